import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { QueueName, queueNames } from '@ec2-restore/contracts';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { SNAPSHOT_WORKER_NODE_FLAGS } from '../../services/snapshot-worker/src/node-flags.ts';

/**
 * deploy/kubernetes, with no cluster: rendered as `kubectl apply -k` would (namespace and image of the
 * kustomization), each object validated against the Kubernetes OpenAPI schemas (kubernetes-models:
 * the schemas compiled by ajv) and KEDA's ScaledObject CRD schema (@kubernetes-models/keda), then
 * checked for what the product needs.
 */

const root = resolve(import.meta.dirname, '..', '..');
const folder = join(root, 'deploy', 'kubernetes');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field below
  spec?: any;
  data?: Record<string, string>;
}

interface Kustomization {
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
  resources: string[];
}

/** The validators of the kinds the manifests may use: the constructor validates with .validate(). */
const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};
const clusterScoped = new Set(['Namespace']);

/** Renders the kustomization: its resources in order, the namespace set, the images replaced. */
function render(): K8sObject[] {
  const kustomization = parse(readFileSync(join(folder, 'kustomization.yaml'), 'utf8')) as Kustomization &
    Record<string, unknown>;
  const used = Object.keys(kustomization).filter((key) => !['apiVersion', 'kind'].includes(key));
  // This renderer implements these fields only: a new one must be implemented here too.
  expect(used.sort()).toEqual(['images', 'namespace', 'resources']);
  const objects: K8sObject[] = [];
  for (const file of kustomization.resources) {
    for (const document of parseAllDocuments(readFileSync(join(folder, file), 'utf8'))) {
      expect(document.errors, file).toEqual([]);
      const object = document.toJS() as K8sObject | null;
      if (object) objects.push(object);
    }
  }
  for (const object of objects) {
    if (kustomization.namespace && !clusterScoped.has(object.kind)) {
      object.metadata.namespace = kustomization.namespace;
    }
    for (const container of object.spec?.template?.spec?.containers ?? []) {
      const image = kustomization.images?.find((candidate) => candidate.name === container.image);
      if (image) container.image = `${image.newName ?? image.name}:${image.newTag ?? 'latest'}`;
    }
  }
  return objects;
}

function validationError(object: K8sObject): string | undefined {
  const Model = models[`${object.apiVersion}/${object.kind}`];
  if (!Model) return `no schema for ${object.apiVersion} ${object.kind}: add its model to this test`;
  try {
    new Model(object as never).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const objects = render();
const find = (kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  expect(found, `${kind} ${name}`).toBeDefined();
  return found!;
};
const config = find('ConfigMap', 'ec2-restore-config').data!;

const workers: Record<QueueName, string> = {
  [QueueName.Snapshot]: 'snapshot-worker',
  [QueueName.Share]: 'share-worker',
  [QueueName.Instance]: 'instance-worker',
};

describe('the Kubernetes manifests', () => {
  it('validate against the Kubernetes and KEDA schemas', () => {
    expect(objects.length).toBeGreaterThan(10);
    const errors = objects
      .map((object) => [`${object.kind}/${object.metadata.name}`, validationError(object)])
      .filter(([, error]) => error !== undefined);
    expect(errors).toEqual([]);
    for (const object of objects) {
      if (object.kind !== 'Namespace') expect(object.metadata.namespace).toBe('ec2-restore');
    }
  });

  it('the validation catches what the API server would refuse', () => {
    const deployment = structuredClone(find('Deployment', 'api'));
    deployment.spec.replicas = 'two';
    expect(validationError(deployment)).toMatch(/replicas/);
    const scaled = structuredClone(find('ScaledObject', 'snapshot-worker'));
    scaled.spec.triggers[0].metadata.listLength = 4;
    expect(validationError(scaled)).toMatch(/listLength|string/);
    delete scaled.spec.scaleTargetRef;
    expect(validationError(scaled)).toMatch(/scaleTargetRef/);
  });

  it('run the compiled services with plain node, as their own Deployments, with probes', () => {
    const built = readFileSync(join(root, 'scripts', 'build.ts'), 'utf8');
    for (const name of ['api', ...Object.values(workers)]) {
      const deployment = find('Deployment', name);
      const container = deployment.spec.template.spec.containers[0];
      const flags = name === 'snapshot-worker' ? SNAPSHOT_WORKER_NODE_FLAGS : [];
      expect(container.command).toEqual(['node', ...flags, `services/${name}/dist/main.js`]);
      // scripts/build.ts writes services/<name>/dist/main.js for each service.
      expect(built).toContain(`'${name === 'api' ? 'api' : name}'`);
      expect(container.image).toBe('ec2-restore:0.1.0');
      expect(container.envFrom).toEqual([{ configMapRef: { name: 'ec2-restore-config' } }]);
      expect(deployment.spec.template.spec.serviceAccountName).toBe('ec2-restore-worker');
      expect(container.livenessProbe).toBeDefined();
      expect(container.readinessProbe).toBeDefined();
    }
    const api = find('Deployment', 'api').spec.template.spec.containers[0];
    expect(api.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(api.readinessProbe.exec.command).toEqual([
      'node',
      'docker/healthcheck.mjs',
      'http://127.0.0.1:8080/readyz',
    ]);
    expect(api.env.map((variable: { name: string }) => variable.name)).toContain('HEALTHCHECK_TOKEN');
    const hpa = find('HorizontalPodAutoscaler', 'api').spec;
    expect(hpa.scaleTargetRef.name).toBe('api');
    expect(hpa.minReplicas).toBeLessThanOrEqual(hpa.maxReplicas);
  });

  it('scale each worker with KEDA on its own queue in the Redis lists BullMQ uses', () => {
    const redisService = find('Service', 'ec2-restore-redis');
    const address = `${redisService.metadata.name}.${redisService.metadata.namespace}.svc.cluster.local:6379`;
    expect(config.REDIS_URL).toBe(`redis://${redisService.metadata.name}:6379`);
    for (const queue of queueNames) {
      const name = workers[queue];
      const scaled = find('ScaledObject', name).spec;
      expect(scaled.scaleTargetRef.name).toBe(name);
      expect(scaled.minReplicaCount).toBeLessThanOrEqual(scaled.maxReplicaCount);
      const concurrency = find('Deployment', name).spec.template.spec.containers[0].env[0];
      expect(concurrency.name).toMatch(/_WORKER_CONCURRENCY$/);
      expect(scaled.triggers).toEqual([
        {
          type: 'redis',
          name: 'waiting-jobs',
          metadata: {
            address,
            listName: `${config.QUEUE_PREFIX}:${queue}:wait`,
            listLength: concurrency.value,
            activationListLength: '0',
          },
        },
        {
          type: 'redis',
          name: 'active-jobs',
          metadata: {
            address,
            listName: `${config.QUEUE_PREFIX}:${queue}:active`,
            listLength: concurrency.value,
            activationListLength: '0',
          },
        },
      ]);
    }
  });

  it('the lists the triggers read are where BullMQ keeps waiting and running jobs (real Redis)', async () => {
    const prefix = `k8s-${randomUUID()}`;
    const redis = new Redis(process.env.REDIS_URL as string);
    const queue = new Queue(QueueName.Snapshot, {
      connection: { url: process.env.REDIS_URL as string },
      prefix,
    });
    try {
      await queue.add('snapshot', { n: 1 });
      await queue.add('snapshot', { n: 2 });
      // What KEDA's redis scaler runs: LLEN on the list.
      expect(await redis.llen(`${prefix}:${QueueName.Snapshot}:wait`)).toBe(2);
      expect(await redis.type(`${prefix}:${QueueName.Snapshot}:active`)).toMatch(/^(list|none)$/);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });

  it('run the worker role through IRSA (or Pod Identity), with Redis durable', () => {
    const account = find('ServiceAccount', 'ec2-restore-worker');
    expect(account.metadata.annotations?.['eks.amazonaws.com/role-arn']).toMatch(
      /^arn:aws:iam::\d{12}:role\/.+$/,
    );
    const redis = find('StatefulSet', 'ec2-restore-redis').spec.template.spec.containers[0];
    expect(redis.args.join(' ')).toBe(
      '--appendonly yes --appendfsync everysec --maxmemory-policy noeviction',
    );
  });
});

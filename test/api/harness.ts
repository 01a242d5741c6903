import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ApiDeps,
  ApiMetrics,
  createApp,
  createLogger,
  FlowRestoreLauncher,
  PreflightPlanner,
  type RestorePlanner,
} from '@ec2-restore/api';
import type { AwsCredentials } from '@ec2-restore/aws-clients';
import { type BackupRepository, openBackupRepository } from '@ec2-restore/backup-repository';
import { queueNames } from '@ec2-restore/contracts';
import { RestoreStore } from '@ec2-restore/restore-state';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const REGION = 'eu-west-1';
export const TOKEN = `test-token-${randomUUID()}`;
const BLOCK = 512 * 1024;

export interface ApiHarness {
  baseUrl: string;
  /** Every log line the API wrote (pino JSON), as text. */
  logs(): string;
  store: RestoreStore;
  queues: Queue[];
  repository: BackupRepository;
  /** The id of a restore point with three volumes: /dev/xvda (root, 1 GiB), /dev/xvdb, /dev/xvdc. */
  restorePointId: string;
  /** fetch against the API with the bearer token. */
  call(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** How many jobs the pipeline queues hold in any state. */
  jobCount(): Promise<number>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Credentials of the worker role (an emulator account). */
  workerCredentials: AwsCredentials;
  /** @defaultValue the real pre-flight planner with the worker credentials */
  planner?: RestorePlanner;
  /** API_TOKENS entries (`call` sends TOKEN: list it). @defaultValue [TOKEN] (an operator token) */
  apiTokens?: ApiDeps['apiTokens'];
  /** @defaultValue the product's defaults */
  limits?: ApiDeps['limits'];
}

/**
 * The API on an ephemeral port with real Redis (its own key and queue prefixes), a backup repository
 * in a temporary folder holding one restore point, and the emulator as AWS.
 */
export async function startApi(options: HarnessOptions): Promise<ApiHarness> {
  const prefix = `test-${randomUUID()}`;
  const redis = new Redis(process.env.REDIS_URL as string, { maxRetriesPerRequest: null });
  const store = new RestoreStore(redis, { prefix: `${prefix}:` });
  const connection = { url: process.env.REDIS_URL as string };
  const queues = queueNames.map((name) => new Queue(name, { connection, prefix }));
  const flowProducer = new FlowProducer({ connection, prefix });
  const folder = await mkdtemp(join(tmpdir(), 'api-test-repo-'));
  const repository = openBackupRepository(folder);
  const restorePointId = await createRestorePoint(repository);
  const logLines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
  const app = createApp({
    store,
    redis,
    planner:
      options.planner ??
      new PreflightPlanner({
        repository,
        region: REGION,
        credentials: options.workerCredentials,
        awsCallRecorder: store,
      }),
    launcher: new FlowRestoreLauncher(flowProducer),
    repository,
    queues,
    apiTokens: options.apiTokens ?? [TOKEN],
    ...(options.limits ? { limits: options.limits } : {}),
    logger,
    metrics: new ApiMetrics(store, queues),
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    logs: () => logLines.join(''),
    store,
    queues,
    repository,
    restorePointId,
    call(path, init = {}) {
      const { json, headers, ...rest } = init;
      return fetch(`${baseUrl}${path}`, {
        ...rest,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
          ...(headers as Record<string, string> | undefined),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
    },
    async jobCount() {
      const counts = await Promise.all(queues.map((queue) => queue.getJobCounts()));
      return counts.reduce((sum, count) => sum + Object.values(count).reduce((a, b) => a + b, 0), 0);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.closeSubscriptions();
      for (const queue of queues) await queue.obliterate({ force: true }).catch(() => {});
      await Promise.all([...queues.map((queue) => queue.close()), flowProducer.close()]);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** A small restore point: three volumes of 1 GiB with a few data blocks each. */
async function createRestorePoint(repository: BackupRepository): Promise<string> {
  const builder = repository.createRestorePoint({
    source: { kind: 'raw-images' },
    instance: {
      instanceType: 't3.micro',
      platform: 'linux',
      architecture: 'x86_64',
      rootDeviceName: '/dev/xvda',
      network: {},
    },
  });
  for (const [n, deviceName] of ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'].entries()) {
    async function* blocks() {
      for (let index = 0; index < 4; index++) yield { index, data: Buffer.alloc(BLOCK, n * 16 + index + 1) };
    }
    await builder.addVolume({ deviceName, sizeGiB: 1, volumeType: 'gp3' }, blocks());
  }
  await builder.commit();
  return builder.id;
}

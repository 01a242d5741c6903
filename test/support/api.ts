/**
 * The real API (createApp, the real pre-flight planner) on an ephemeral port, with real Redis and the
 * emulator as AWS. Alone it has Redis prefixes and a backup repository of its own (one small restore
 * point); in a world it shares the world's pipeline and backup, so restores it accepts reach the
 * world's worker processes.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
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
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import type { RestoreStore } from '@ec2-restore/restore-state';
import { FlowProducer, Queue } from 'bullmq';
import { afterAll, beforeAll } from 'vitest';
import { REGION } from './accounts.ts';
import { createSmallRestorePoint, tempDir } from './backup.ts';
import { openPipeline, type Pipeline, TEST_BACKOFF_MS } from './pipeline.ts';

/** The bearer token `call` sends. */
export const TOKEN = `test-token-${randomUUID()}`;

export interface ApiHarness {
  baseUrl: string;
  /** Every log line the API wrote (pino JSON), as text. */
  logs(): string;
  store: RestoreStore;
  queues: Queue[];
  repository: BackupRepository;
  /** Alone: a restore point with three volumes, /dev/xvda (root, 1 GiB), /dev/xvdb, /dev/xvdc. */
  restorePointId: string;
  /** fetch against the API with the bearer token TOKEN. */
  call(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** POST `json` with the bearer token TOKEN. */
  post(path: string, json: unknown, headers?: Record<string, string>): Promise<Response>;
  /** How many jobs the pipeline queues hold in any state. */
  jobCount(): Promise<number>;
  close(): Promise<void>;
}

export interface ApiOptions {
  /** Credentials of the worker role. @defaultValue the root of a fresh emulator account */
  workerCredentials?: AwsCredentials;
  /** @defaultValue the real pre-flight planner with the worker credentials */
  planner?: RestorePlanner;
  /**
   * The real planner's deadline. API tests check what a plan says, not how fast: on a CI bound by
   * CPU the first plan of fresh emulator accounts can pass the product's 10 s (the API then answers
   * 504 preflight_timeout). The deadline itself is tested in test/preflight/session.test.ts.
   * @defaultValue 60000
   */
  preflightDeadlineMs?: number;
  /** API_TOKENS entries (`call` sends TOKEN: list it). @defaultValue [TOKEN] (an operator token) */
  apiTokens?: ApiDeps['apiTokens'];
  /** @defaultValue the product's defaults */
  limits?: ApiDeps['limits'];
  /** The world's Redis prefixes and store. @defaultValue a pipeline of its own, emptied on close */
  pipeline?: Pipeline;
  /** The Redis of the API's own pipeline. @defaultValue the run's (REDIS_URL) */
  redisUrl?: string;
  /**
   * The world's backup repository (a folder, or `s3://…` read with `workerCredentials`).
   * @defaultValue a temporary folder holding a small restore point
   */
  repositoryPath?: string;
}

export async function startApi(options: ApiOptions = {}): Promise<ApiHarness> {
  const pipeline = options.pipeline ?? openPipeline(options.redisUrl);
  const { store, redis, queuePrefix: prefix } = pipeline;
  const queues = queueNames.map((name) => new Queue(name, { connection: redis, prefix }));
  const flowProducer = new FlowProducer({ connection: redis, prefix });
  const folder = options.repositoryPath ? undefined : await tempDir('ec2r-api-repo-');
  // An S3 repository is read as the worker role, as the API process reads it.
  const repository = openBackupRepository(
    options.repositoryPath ?? folder?.path ?? '',
    options.workerCredentials ? { credentials: options.workerCredentials, region: REGION } : {},
  );
  const restorePointId = folder ? await createSmallRestorePoint(repository) : '';
  const logLines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
  const metrics = new ApiMetrics(store, queues);
  const app = createApp({
    store,
    redis,
    planner:
      options.planner ??
      new PreflightPlanner({
        repository,
        region: REGION,
        credentials: options.workerCredentials ?? credentialsForAccount(randomAccountId()),
        awsCallRecorder: store,
        deadlineMs: options.preflightDeadlineMs ?? 60_000,
      }),
    launcher: new FlowRestoreLauncher(flowProducer, { backoffMs: TEST_BACKOFF_MS }),
    repository,
    queues,
    apiTokens: options.apiTokens ?? [TOKEN],
    ...(options.limits ? { limits: options.limits } : {}),
    logger,
    metrics,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const harness: ApiHarness = {
    baseUrl,
    logs: () => logLines.join(''),
    store,
    queues,
    repository,
    restorePointId,
    post: (path, json, headers = {}) => harness.call(path, { method: 'POST', json, headers }),
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
      await Promise.all([...queues.map((queue) => queue.close()), flowProducer.close()]);
      metrics.close();
      if (!options.pipeline) await pipeline.close();
      await folder?.remove();
    },
  };
  return harness;
}

/**
 * The API for a whole test file: started before its tests (beforeAll), closed after them (afterAll).
 * Use the returned harness only inside tests and hooks.
 */
export function apiPerFile(options: ApiOptions | (() => ApiOptions) = {}): ApiHarness {
  let harness: ApiHarness | undefined;
  beforeAll(async () => {
    harness = await startApi(typeof options === 'function' ? options() : options);
  });
  afterAll(async () => {
    await harness?.close();
  });
  return new Proxy({} as ApiHarness, {
    get(_target, key) {
      if (!harness)
        throw new Error('the API of this file starts in beforeAll: use it inside tests and hooks');
      return harness[key as keyof ApiHarness];
    },
  });
}

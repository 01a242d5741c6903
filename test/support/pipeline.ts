/**
 * The pipeline of an e2e test: Redis prefixes of its own, restores added as the API adds them, and the
 * three worker services started as their own processes (compiled from services/<name>/src/main.ts: compiled.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RestorePointSummary } from '@ec2-restore/backup-repository';
import {
  type InstanceJobInput,
  type RestoreRequestInput,
  restoreRequestSchema,
  type SnapshotJobInput,
  type SnapshotJobResult,
} from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { addRestoreFlow, stepNameOf } from '@ec2-restore/pipeline';
import { type Restore, RestoreStore, terminalRestoreStatuses } from '@ec2-restore/restore-state';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REGION } from './accounts.ts';
import { GIB } from './backup.ts';
import { nodeArgsFor } from './compiled.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Retry backoff of the restores' jobs in tests (the product's default is longer): a retried step
 * comes back within a second.
 */
export const TEST_BACKOFF_MS = 500;

export interface Pipeline {
  queuePrefix: string;
  statePrefix: string;
  redis: Redis;
  store: RestoreStore;
  flowProducer: FlowProducer;
  close(): Promise<void>;
}

/** Queue and state prefixes of its own on the run's Redis (or on `redisUrl`). */
export function openPipeline(redisUrl = process.env.REDIS_URL ?? ''): Pipeline {
  const queuePrefix = `t${randomUUID().slice(0, 8)}`;
  const statePrefix = `${queuePrefix}:state:`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const store = new RestoreStore(redis, { prefix: statePrefix });
  const flowProducer = new FlowProducer({ connection: redis, prefix: queuePrefix });
  return {
    queuePrefix,
    statePrefix,
    redis,
    store,
    flowProducer,
    async close() {
      await store.closeSubscriptions();
      await flowProducer.close();
      const keys = await redis.keys(`${queuePrefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      // A plan the API answered at its deadline still has AWS calls out, and each records itself in
      // Redis when it ends: one written as QUIT closes the connection fails (EPIPE), and ioredis then
      // rejects QUIT too ("Connection is closed."). Closed is what QUIT is for.
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Stores a restore and adds its flow, as the API does after the pre-flight checks passed
 * (the API e2e tests drive the same through HTTP).
 */
export async function startRestore(
  pipeline: Pipeline,
  input: RestoreRequestInput,
  context: { restorePoint: RestorePointSummary; sourceAccountId: string },
): Promise<string> {
  const request = restoreRequestSchema.parse(input);
  const mode = request.target.accountId === context.sourceAccountId ? 'same-account' : 'cross-account';
  const id = randomUUID();
  const restore = { id, mode, request } as const;
  const volumes = context.restorePoint.volumes.filter(
    (v) => !request.volumes || request.volumes.includes(v.deviceName),
  );
  await pipeline.store.create({
    id,
    mode,
    request,
    steps: [
      ...volumes.map((v) => stepNameOf({ name: 'snapshot', data: { volume: v } })),
      ...(mode === 'cross-account' ? ['share'] : []),
      'instance',
      'cleanup',
    ],
    volumes: volumes.map((v) => ({ deviceName: v.deviceName, bytesTotal: v.sizeGiB * GIB })),
  });
  await addRestoreFlow(pipeline.flowProducer, restore, context, { backoffMs: TEST_BACKOFF_MS });
  return id;
}

/** Polls the store until `predicate` holds for the restore (or throws after `timeoutMs`). */
export async function waitForRestore(
  store: RestoreStore,
  id: string,
  predicate: (r: Restore) => boolean,
  timeoutMs = 150_000,
  everyMs = 100,
): Promise<Restore> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const restore = await store.get(id);
    if (restore && predicate(restore)) return restore;
    if (Date.now() > deadline) {
      throw new Error(
        `restore ${id}: condition not reached within ${timeoutMs} ms: ${JSON.stringify(restore)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Waits until the restore has ended (succeeded, failed, cancelled). */
export function waitForEnd(store: RestoreStore, id: string, timeoutMs = 150_000): Promise<Restore> {
  return waitForRestore(store, id, (r) => terminalRestoreStatuses.includes(r.status), timeoutMs);
}

/** Status of one of a restore's steps (`snapshot:/dev/xvda`, `share`, `instance`, `cleanup`). */
export function stepStatus(restore: Restore | null | undefined, name: string): string | undefined {
  return restore?.steps.find((s) => s.name === name)?.status;
}

// ---------------------------------------------------------------------------------------------

export type WorkerName = 'snapshot-worker' | 'share-worker' | 'instance-worker';

export interface WorkerProcess {
  name: WorkerName;
  child: ChildProcess;
  /** Everything it logged (JSON lines), for failure messages. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts a worker service as its own process, as an operator would (compiled: ./compiled.ts). */
export function startWorker(name: WorkerName, env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, nodeArgsFor(join('services', name, 'src', 'main.ts')), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The environment of the worker processes: worker role = root of the source account. */
export function workerEnv(
  pipeline: Pipeline,
  sourceAccountId: string,
  repositoryPath: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const credentials = credentialsForAccount(sourceAccountId);
  return {
    REDIS_URL: process.env.REDIS_URL ?? '',
    AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL ?? '',
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    BACKUP_REPOSITORY: repositoryPath,
    QUEUE_PREFIX: pipeline.queuePrefix,
    STATE_PREFIX: pipeline.statePrefix,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** Waits until a job of a queue completed and returns its result (throws with the workers' logs on failure). */
export async function jobResult(
  pipeline: Pipeline,
  queueName: string,
  jobId: string,
  workers: WorkerProcess[],
  timeoutMs = 400_000,
): Promise<unknown> {
  const queue = new Queue(queueName, { connection: pipeline.redis, prefix: pipeline.queuePrefix });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await queue.getJob(jobId);
      // Read the job again once it is completed: the copy fetched before may predate its result (a job
      // that completed between getJob and isCompleted has a null returnvalue in that copy).
      if (job && (await job.isCompleted())) return (await queue.getJob(jobId))?.returnvalue;
      if (job && (await job.isFailed())) {
        throw new Error(`${jobId} failed: ${job.failedReason}\n${workers.map((w) => w.output()).join('\n')}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${jobId} did not complete\n${workers.map((w) => w.output()).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await queue.close();
  }
}

/** Whether a process with this id is running (signal 0 only checks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The target fields of every job of a same-account restore into `accountId`. */
function sameAccountJob(accountId: string, restoreId: string) {
  return {
    restoreId,
    mode: 'same-account',
    region: REGION,
    sourceAccountId: accountId,
    targetAccountId: accountId,
  } as const;
}

/** The instance step's input of a same-account restore into `accountId` (restore point rp-test, Linux). */
export function instanceJobInput(
  accountId: string,
  targetKmsKeyId: string,
  restoreId: string,
  extra: Partial<InstanceJobInput> = {},
): InstanceJobInput {
  return {
    ...sameAccountJob(accountId, restoreId),
    restorePointId: 'rp-test',
    targetKmsKeyId,
    instance: { powerOn: false },
    restorePoint: { instanceType: 't3.micro', rootDeviceName: '/dev/xvda', architecture: 'x86_64' },
    ...extra,
  };
}

/** A snapshot step's input of a same-account restore into `accountId`: one gp3 volume of a restore point, EBS direct. */
export function snapshotJobInput(
  accountId: string,
  targetKmsKeyId: string,
  restoreId: string,
  restorePoint: { id: string; volume: { deviceName: string; sizeGiB: number } },
  extra: Partial<SnapshotJobInput> = {},
): SnapshotJobInput {
  const { deviceName, sizeGiB } = restorePoint.volume;
  return {
    ...sameAccountJob(accountId, restoreId),
    restorePointId: restorePoint.id,
    targetKmsKeyId,
    dataPath: 'ebs-direct',
    volume: { deviceName, sizeGiB, volumeType: 'gp3' },
    verify: false,
    transferKey: false,
    ...extra,
  };
}

/** A snapshot step's result: a 1 GiB gp3 volume's snapshot. */
export function snapshotJobResult(deviceName: string, snapshotId: string): SnapshotJobResult {
  return { deviceName, snapshotId, kmsKeyId: '', sizeGiB: 1, volumeType: 'gp3', bytesWritten: GIB };
}

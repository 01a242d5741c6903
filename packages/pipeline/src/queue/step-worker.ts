/**
 * The BullMQ adapter of a step worker: the one place (with restore-flow.ts) that knows BullMQ. It runs
 * the job's processor and turns the outcome into queue behaviour; what the outcome means for the
 * restore (statuses, cleanup) is decided by `RestoreLifecycle` (../lifecycle/restore-lifecycle.ts):
 * - `StepPendingError` → the job is moved to the delayed set (no worker slot held, no attempt used)
 *   for a time that grows with how long the step has run (`pendingDelayMs`);
 * - `PermanentStepError` / `RestoreEndedError` → failed at once (BullMQ `UnrecoverableError`);
 * - any other error → retried with backoff, up to the job's attempts.
 */
import {
  JobName,
  jobNamesForQueue,
  type QueueName,
  queueForJob,
  type ShareJobResult,
  type SnapshotJobResult,
  stepNameFor,
  type VolumePhase,
} from '@ec2-restore/contracts';
import type { RestoreStore } from '@ec2-restore/restore-state';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StepClients } from '../aws/step-clients.ts';
import { classifyStepError } from '../errors/classify-step-error.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { RestoreEndedError } from '../errors/restore-ended-error.ts';
import { pendingDelayMs, StepPendingError } from '../errors/step-pending-error.ts';
import { RestoreLifecycle, type StepLogger, type StepRun } from '../lifecycle/restore-lifecycle.ts';
import { cleanupJob } from '../restore-flow.ts';
import type { StepContext } from '../steps/step-context.ts';

/** What a processor gets besides the job data. */
export interface ProcessorContext extends StepContext {
  job: Job;
  /** Records the bytes written (or, in the verify phase, read back) for the job's volume. */
  progress(bytesDone: number, bytesTotal: number, phase?: VolumePhase): Promise<void>;
  /** The results of the job's children (snapshot results, directly or through the share job). */
  childSnapshotResults(): Promise<SnapshotJobResult[]>;
  /** Aborted when the restore is cancelled (or failed in another job) while this job runs. */
  signal: AbortSignal;
}

export type StepProcessor = (data: unknown, ctx: ProcessorContext) => Promise<unknown>;

export interface StepWorkerOptions {
  queue: QueueName;
  /** One processor per job name of the queue, no more, no less (checked at start). */
  processors: Partial<Record<JobName, StepProcessor>>;
  /** Redis connection for the worker (BullMQ needs `maxRetriesPerRequest: null`). */
  connection: Redis;
  store: RestoreStore;
  clients: StepClients;
  /** @defaultValue 1 */
  concurrency?: number;
  /** BullMQ key prefix. @defaultValue 'bull' */
  prefix?: string;
  logger?: StepLogger;
  /**
   * How long a job's lock lasts without renewal, and how often stalled jobs are looked for; a worker
   * that dies loses its jobs to another within about twice this. @defaultValue 30000
   */
  lockDurationMs?: number;
  /**
   * How long one step may wait on AWS in all (its `StepPendingError`s, from the first): a launch
   * stuck `pending`, a snapshot that never completes. Past it the restore fails with code `timeout`
   * and cleanup runs (`STEP_PENDING_LIMIT_MINUTES`). @defaultValue 6 hours
   */
  pendingLimitMs?: number;
}

/** Job data key holding when the step first waited (epoch ms): the start of its bound. */
export const PENDING_SINCE_KEY = 'pendingSince';
const DEFAULT_PENDING_LIMIT_MS = 6 * 3600_000;

export interface RunningStepWorker {
  worker: Worker;
  /** Waits for running jobs to finish (or be handed back) and closes the connections. */
  close(): Promise<void>;
}

const silentLogger: StepLogger = { info() {}, warn() {}, error() {} };
/** How often a running job looks for a cancel. */
const CANCEL_POLL_MS = 2000;

/** Name of a job's step in the restore record: `snapshot:/dev/xvdb`, `share`, `instance`, `cleanup`. */
export function stepNameOf(job: Pick<Job, 'name' | 'data'>): string {
  return stepNameFor(
    job.name as JobName,
    (job.data as { volume?: { deviceName?: string } }).volume?.deviceName,
  );
}

function snapshotResultsOf(values: Record<string, unknown>): SnapshotJobResult[] {
  const results: SnapshotJobResult[] = [];
  for (const value of Object.values(values)) {
    const share = value as Partial<ShareJobResult>;
    if (Array.isArray(share.snapshots)) results.push(...share.snapshots);
    else results.push(value as SnapshotJobResult);
  }
  return results.sort((a, b) => a.deviceName.localeCompare(b.deviceName));
}

/**
 * The restore a job belongs to: the first part of its id (`<restoreId>.<step>[...]`, set when the flow
 * was added; Bull Board cannot change it); its data must say the same (checked by the lifecycle).
 */
function restoreIdOfJob(job: Job): string {
  const fromId = job.id?.split('.')[0];
  return fromId && fromId !== job.id ? fromId : (job.data as { restoreId: string }).restoreId;
}

function checkProcessors(queue: QueueName, processors: Partial<Record<JobName, StepProcessor>>): void {
  const expected = jobNamesForQueue(queue);
  const given = Object.keys(processors) as JobName[];
  const missing = expected.filter((name) => !processors[name]);
  const extra = given.filter((name) => queueForJob[name] !== queue);
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `queue ${queue} needs exactly one processor for each of ${expected.join(', ')}` +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') +
        (extra.length ? `; not on this queue: ${extra.join(', ')}` : ''),
    );
  }
}

/** Starts a BullMQ worker on one of the restore queues. */
export function startStepWorker(options: StepWorkerOptions): RunningStepWorker {
  checkProcessors(options.queue, options.processors);
  const prefix = options.prefix ?? 'bull';
  const logger = options.logger ?? silentLogger;
  const cleanupQueue = new Queue(queueForJob.cleanup, { connection: options.connection, prefix });
  const lifecycle = new RestoreLifecycle(
    options.store,
    async (input, jobId) => {
      const { name, data, opts } = cleanupJob(input);
      await cleanupQueue.add(name, data, { ...opts, jobId });
    },
    logger,
  );

  async function process(job: Job, token?: string): Promise<unknown> {
    const processor = options.processors[job.name as JobName];
    if (!processor)
      throw new PermanentStepError(`no processor for job ${job.name}`, {
        code: 'internal_error',
        category: 'internal',
      });
    const run: StepRun = {
      restoreId: restoreIdOfJob(job),
      jobName: job.name as JobName,
      jobId: job.id ?? '',
      stepName: stepNameOf(job),
      attemptsMade: job.attemptsMade,
      data: job.data as StepRun['data'],
    };
    const isCleanup = job.name === JobName.Cleanup;
    const stepStartedAt = await lifecycle.start(run);

    // Notice a cancel within seconds, even in the middle of a long write.
    const abort = new AbortController();
    const watcher = isCleanup
      ? undefined
      : setInterval(() => {
          lifecycle.endedStatus(run.restoreId).then(
            (ended) => ended && abort.abort(new RestoreEndedError(run.restoreId, ended)),
            () => {},
          );
        }, CANCEL_POLL_MS);
    const ctx: ProcessorContext = {
      job,
      clients: options.clients,
      signal: abort.signal,
      checkpoint: () => (isCleanup ? Promise.resolve() : lifecycle.checkpoint(run)),
      async progress(bytesDone, bytesTotal, phase) {
        const device = (job.data as { volume?: { deviceName?: string } }).volume?.deviceName;
        if (!device) return;
        if (phase === 'verify') await options.store.setVolumeVerified(run.restoreId, device, bytesDone);
        else await options.store.setVolumeProgress(run.restoreId, device, bytesDone, bytesTotal);
      },
      childSnapshotResults: async () => snapshotResultsOf(await job.getChildrenValues()),
    };

    let value: unknown;
    try {
      value = await processor(job.data, ctx);
    } catch (raw) {
      if (abort.signal.aborted) await lifecycle.checkpoint(run);
      const error = classifyStepError(raw);
      const limitMs = options.pendingLimitMs ?? DEFAULT_PENDING_LIMIT_MS;
      const since = (job.data as Record<string, unknown>)[PENDING_SINCE_KEY];
      const waitedMs = typeof since === 'number' ? Date.now() - since : 0;
      if (error instanceof StepPendingError && waitedMs > limitMs) {
        const timeout = new PermanentStepError(
          `timeout: the ${run.stepName} step waited ${Math.round(waitedMs / 60_000)} minutes in all, longer than its limit of ${Math.round(limitMs / 60_000)} (STEP_PENDING_LIMIT_MINUTES), still for ${error.reason}; cleanup removes what it made`,
          { code: 'timeout', category: 'aws' },
        );
        await lifecycle.failedForGood(run, timeout);
        throw timeout;
      }
      if (error instanceof StepPendingError) {
        if (typeof since !== 'number') await job.updateData({ ...job.data, [PENDING_SINCE_KEY]: Date.now() });
        // AWS is still working: wait in the delayed set, holding no worker slot and using no attempt.
        logger.info(
          { restoreId: run.restoreId, jobId: job.id, step: run.stepName, reason: error.reason },
          'step waits',
        );
        await job.moveToDelayed(Date.now() + pendingDelayMs(error, Date.now() - stepStartedAt), token);
        throw new DelayedError();
      }
      if (error instanceof RestoreEndedError) throw error;
      if (error instanceof PermanentStepError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        await lifecycle.failedForGood(run, error);
      } else {
        lifecycle.willRetry(run, error);
      }
      throw error;
    } finally {
      clearInterval(watcher);
    }
    await lifecycle.succeeded(run, value);
    return value;
  }

  const worker = new Worker(options.queue, process, {
    connection: options.connection,
    prefix,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDurationMs ?? 30_000,
    // A dead worker's job is noticed one lock duration after its lock expired, at the latest.
    stalledInterval: options.lockDurationMs ?? 30_000,
    // A job whose worker died is moved back by the stalled-job check; BullMQ's default fails it for good
    // after one such stall. Steps are idempotent (tags, ClientTokens), so a job may outlive several
    // worker crashes in a row (a rolling restart, an OOM loop) and still finish without duplicates.
    maxStalledCount: 10,
  });
  worker.on('error', (error) => logger.error({ queue: options.queue, err: error.message }, 'worker error'));

  return {
    worker,
    async close() {
      await worker.close();
      await cleanupQueue.close();
    },
  };
}

/**
 * The queue side of a step worker: the one place (with restore-flow.ts) that knows BullMQ. It turns
 * a job into a call of the service's processor and steers the job from the outcome:
 * - `StepPendingError` → the job is moved to the delayed set (no worker slot held, no attempt used);
 * - `PermanentStepError` / `RestoreEndedError` → failed at once (BullMQ `UnrecoverableError`);
 * - any other error → retried with backoff, up to the job's attempts;
 * and keeps the restore record (steps, attempts, progress, result, error) and cleanup in step.
 */
import {
  type CleanupJobInput,
  type InstanceJobResult,
  JobName,
  jobIdFor,
  jobNamesForQueue,
  type QueueName,
  queueForJob,
  restoreRequestSchema,
  type ShareJobResult,
  type SnapshotJobResult,
  stepNameFor,
} from '@ec2-restore/contracts';
import type { Restore, RestoreStatus, RestoreStore } from '@ec2-restore/restore-state';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StepClients } from '../aws/step-clients.ts';
import { classifyStepError, restoreErrorOf } from '../errors/classify-step-error.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { RestoreEndedError } from '../errors/restore-ended-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { cleanupJob } from '../restore-flow.ts';
import type { StepContext } from '../steps/step-context.ts';
import { acceptedTargetOf, assertJobAccepted } from './accepted-job.ts';

/** What a processor gets besides the job data. */
export interface ProcessorContext extends StepContext {
  job: Job;
  /** Records the bytes written for the job's volume. */
  progress(bytesDone: number, bytesTotal: number): Promise<void>;
  /** The results of the job's children (snapshot results, directly or through the share job). */
  childSnapshotResults(): Promise<SnapshotJobResult[]>;
  /** Aborted when the restore is cancelled (or failed in another job) while this job runs. */
  signal: AbortSignal;
}

export type StepProcessor = (data: unknown, ctx: ProcessorContext) => Promise<unknown>;

export interface StepLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

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
   * How long a job's lock lasts without renewal; a worker that dies loses its jobs to another after it.
   * @defaultValue 30000
   */
  lockDurationMs?: number;
}

export interface RunningStepWorker {
  worker: Worker;
  /** Waits for running jobs to finish (or be handed back) and closes the connections. */
  close(): Promise<void>;
}

const silentLogger: StepLogger = { info() {}, warn() {}, error() {} };
const ENDED_OR_ENDING: readonly RestoreStatus[] = ['failed', 'cancelling', 'cancelled', 'succeeded'];
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

/** The restore a job belongs to: the first part of its id (`<restoreId>.<step>[...]`). */
function restoreIdOfJob(job: Job): string {
  const fromId = job.id?.split('.')[0];
  return fromId && fromId !== job.id ? fromId : (job.data as { restoreId: string }).restoreId;
}

/** Why a job must not run (its data differs from the accepted request), or null. */
function refusalOf(job: Job, restore: Restore): PermanentStepError | null {
  try {
    assertJobAccepted(job.name, job.data, restore);
    return null;
  } catch (error) {
    if (error instanceof PermanentStepError) return error;
    throw error;
  }
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
  const { store, clients } = options;
  const logger = options.logger ?? silentLogger;
  const prefix = options.prefix ?? 'bull';
  const cleanupQueue = new Queue(queueForJob.cleanup, { connection: options.connection, prefix });

  async function requestCleanup(input: CleanupJobInput, jobId?: string): Promise<void> {
    const { name, data, opts } = cleanupJob(input);
    await cleanupQueue.add(name, data, jobId ? { ...opts, jobId } : opts);
  }

  function cleanupInputOf(job: Job, outcome: CleanupJobInput['outcome'], result?: InstanceJobResult) {
    const d = job.data as CleanupJobInput;
    return {
      restoreId: d.restoreId,
      mode: d.mode,
      region: d.region,
      sourceAccountId: d.sourceAccountId,
      targetAccountId: d.targetAccountId,
      ...(d.roleArn ? { roleArn: d.roleArn } : {}),
      ...(d.externalId ? { externalId: d.externalId } : {}),
      outcome,
      ...(result ? { result } : {}),
    } satisfies CleanupJobInput;
  }

  async function endedStatus(restoreId: string): Promise<RestoreStatus | null> {
    const status = await store.getStatus(restoreId);
    return status !== null && ENDED_OR_ENDING.includes(status) ? status : null;
  }

  /** A restore cancelled or failed: stop, and make sure cleanup runs (again, for what this job made). */
  async function stopForEndedRestore(job: Job, stepName: string, status: RestoreStatus): Promise<never> {
    const restoreId = (job.data as { restoreId: string }).restoreId;
    await store.finishStep(restoreId, stepName, 'cancelled').catch(() => {});
    const outcome = status === 'failed' ? 'failed' : 'cancelled';
    await requestCleanup(cleanupInputOf(job, outcome));
    // A second pass for what this job may have made after the first cleanup looked.
    await requestCleanup(
      cleanupInputOf(job, outcome),
      `${jobIdFor(restoreId, JobName.Cleanup)}.after-${job.id}`,
    );
    throw new RestoreEndedError(restoreId, status);
  }

  /**
   * A job that is not what the API accepted: do nothing it asks, fail the restore saying why, and
   * clean up what the restore's other (accepted) jobs made, with the target from the record.
   */
  async function refuseJob(
    job: Job,
    restore: Restore,
    stepName: string,
    error: PermanentStepError,
  ): Promise<never> {
    logger.error({ restoreId: restore.id, jobId: job.id, job: job.name, err: error.message }, 'job refused');
    if (restore.steps.some((s) => s.name === stepName))
      await store.finishStep(restore.id, stepName, 'failed').catch(() => {});
    const status = await store.getStatus(restore.id);
    if (status === 'running' || status === 'queued' || status === 'cancelling')
      await store.fail(restore.id, restoreErrorOf(error, stepName));
    const request = restoreRequestSchema.safeParse(restore.request);
    if (request.success && job.name !== JobName.Cleanup) {
      const target = acceptedTargetOf(restore, request.data);
      const claimed = (job.data as { sourceAccountId?: unknown }).sourceAccountId;
      const sourceAccountId =
        restore.mode === 'same-account' ? target.targetAccountId : typeof claimed === 'string' ? claimed : '';
      await requestCleanup(
        { ...target, sourceAccountId, outcome: 'failed' },
        `${jobIdFor(restore.id, JobName.Cleanup)}.refused-${job.id}`,
      );
    }
    throw error;
  }

  async function finalizeAfterCleanup(input: CleanupJobInput): Promise<void> {
    const status = await store.getStatus(input.restoreId);
    if (input.outcome !== 'cancelled' && status === 'cancelling') {
      // Cancelled while the flow was finishing: undo the restore too, then it is `cancelled`.
      const { result: _result, ...rest } = input;
      await requestCleanup(
        { ...rest, outcome: 'cancelled' },
        `${jobIdFor(input.restoreId, JobName.Cleanup)}.cancelled`,
      );
    } else if (input.outcome === 'succeeded' && input.result && status === 'running') {
      await store.succeed(input.restoreId, input.result);
    } else if (input.outcome === 'cancelled' && (status === 'cancelling' || status === 'queued')) {
      await store.setStatus(input.restoreId, 'cancelled');
    }
  }

  async function process(job: Job, token?: string): Promise<unknown> {
    const processor = options.processors[job.name as JobName];
    if (!processor)
      throw new PermanentStepError(`no processor for job ${job.name}`, {
        code: 'internal_error',
        category: 'internal',
      });
    // The restore a job belongs to is the one its id names (`<restoreId>.<step>...`, set when the
    // flow was added; Bull Board cannot change it); its data must say the same.
    const restoreId = restoreIdOfJob(job);
    const stepName = stepNameOf(job);
    const log = { restoreId, jobId: job.id, job: job.name, step: stepName };
    const isCleanup = job.name === JobName.Cleanup;

    if (!isCleanup) {
      const ended = await endedStatus(restoreId);
      if (ended) return stopForEndedRestore(job, stepName, ended);
    }
    const restore = await store.get(restoreId);
    if (!restore) {
      throw new PermanentStepError(`restore ${restoreId} is not in the store`, {
        code: 'internal_error',
        category: 'internal',
      });
    }
    const refused = refusalOf(job, restore);
    if (refused) return refuseJob(job, restore, stepName, refused);
    const step = restore.steps.find((s) => s.name === stepName);
    // Back from the delayed set (StepPendingError): the same attempt goes on, not a new one.
    const resumed = step?.status === 'running' && step.attempts >= job.attemptsMade + 1;
    if (!resumed) {
      await store.startStep(restoreId, stepName);
      logger.info({ ...log, attempt: job.attemptsMade + 1 }, 'step started');
    }

    // Notice a cancel within seconds, even in the middle of a long write.
    const abort = new AbortController();
    const watcher = isCleanup
      ? undefined
      : setInterval(() => {
          endedStatus(restoreId).then(
            (ended) => {
              if (ended) abort.abort(new RestoreEndedError(restoreId, ended));
            },
            () => {},
          );
        }, CANCEL_POLL_MS);

    const ctx: ProcessorContext = {
      job,
      clients,
      signal: abort.signal,
      async checkpoint() {
        if (isCleanup) return;
        const ended = await endedStatus(restoreId);
        if (ended) await stopForEndedRestore(job, stepName, ended);
      },
      async progress(bytesDone, bytesTotal) {
        const device = (job.data as { volume?: { deviceName?: string } }).volume?.deviceName;
        if (device) await store.setVolumeProgress(restoreId, device, bytesDone, bytesTotal);
      },
      async childSnapshotResults() {
        return snapshotResultsOf(await job.getChildrenValues());
      },
    };

    let value: unknown;
    try {
      value = await processor(job.data, ctx);
    } catch (raw) {
      if (abort.signal.aborted) {
        const ended = await endedStatus(restoreId);
        if (ended) return stopForEndedRestore(job, stepName, ended);
      }
      const error = classifyStepError(raw);
      if (error instanceof StepPendingError) {
        logger.info({ ...log, reason: error.reason, retryAfterMs: error.retryAfterMs }, 'step waits');
        await job.moveToDelayed(Date.now() + error.retryAfterMs, token);
        throw new DelayedError();
      }
      if (error instanceof RestoreEndedError) throw error;
      const final = error instanceof PermanentStepError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (!final) {
        logger.warn({ ...log, err: error.message, attempt: job.attemptsMade + 1 }, 'step failed, will retry');
        throw error;
      }
      logger.error({ ...log, err: error.message }, 'step failed for good');
      await store.finishStep(restoreId, stepName, 'failed');
      if (isCleanup) {
        await finalizeAfterCleanup(job.data as CleanupJobInput).catch(() => {});
      } else {
        const status = await store.getStatus(restoreId);
        if (status === 'running' || status === 'queued' || status === 'cancelling') {
          await store.fail(restoreId, restoreErrorOf(error, stepName));
        }
        await requestCleanup(cleanupInputOf(job, 'failed'));
      }
      throw error;
    } finally {
      clearInterval(watcher);
    }

    await store.finishStep(restoreId, stepName, 'succeeded');
    logger.info(log, 'step succeeded');
    if (isCleanup) {
      await finalizeAfterCleanup(job.data as CleanupJobInput);
    } else {
      // A restore that ended while this job ran: what the job made must go too.
      const ended = await endedStatus(restoreId);
      if (ended === 'failed' || ended === 'cancelling' || ended === 'cancelled') {
        await requestCleanup(
          cleanupInputOf(job, ended === 'failed' ? 'failed' : 'cancelled'),
          `${jobIdFor(restoreId, JobName.Cleanup)}.after-${job.id}`,
        );
      } else if (job.name === JobName.Instance) {
        await requestCleanup(cleanupInputOf(job, 'succeeded', value as InstanceJobResult));
      }
    }
    return value;
  }

  const worker = new Worker(options.queue, process, {
    connection: options.connection,
    prefix,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDurationMs ?? 30_000,
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

/**
 * The restore lifecycle once a restore is queued: every status change a step's outcome causes, and when
 * cleanup runs. A newcomer looking for "what happens when a step fails" reads this file; the BullMQ
 * adapter (`../queue/step-worker.ts`) only turns these decisions into queue behaviour.
 *
 * - a job starts: its data is checked against the accepted request (a tampered job is refused: the
 *   restore fails, cleanup runs); step `running` (one more attempt; a job back from the delayed set keeps its attempt);
 * - the restore ended or is ending when a job starts, checks in or finishes: the step is `cancelled`,
 *   cleanup is requested (and a second pass for what this job made after the first looked);
 * - a job fails for good: step `failed`, restore `failed` with the error, cleanup requested;
 * - the instance job succeeds: its result is held in the record, cleanup is requested; the restore
 *   becomes `succeeded` (showing the result) only when the cleanup is done, so nothing temporary is
 *   left behind a succeeded restore;
 * - cleanup done: `succeeded` or `cancelled`; a cancel that came while a succeeded restore was being
 *   cleaned up gets one more cleanup that undoes the restore, then `cancelled`.
 */
import {
  type CleanupJobInput,
  type CleanupPass,
  cleanupJobIdFor,
  type InstanceJobResult,
  JobName,
  type RestoreOutcome,
  restoreRequestSchema,
} from '@ec2-restore/contracts';
import type { Restore, RestoreStatus, RestoreStore } from '@ec2-restore/restore-state';
import { restoreErrorOf } from '../errors/classify-step-error.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { RestoreEndedError } from '../errors/restore-ended-error.ts';
import { acceptedTargetOf, assertJobAccepted, targetFieldsOf } from '../queue/accepted-job.ts';

/** Adds a cleanup job; the job id dedups (`cleanupJobIdFor`). Implemented by the queue adapter. */
export type CleanupScheduler = (input: CleanupJobInput, jobId: string) => Promise<void>;

export interface StepLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** One run of one job, as the lifecycle needs to know it. */
export interface StepRun {
  /** The restore the job belongs to: the one its id names (set when the flow was added). */
  restoreId: string;
  jobName: JobName;
  jobId: string;
  /** The step's name in the restore record (`stepNameFor`). */
  stepName: string;
  /** Attempts BullMQ counted before this one. */
  attemptsMade: number;
  /** The job's data: every job carries the restore's target fields (checked against the record). */
  data: Omit<CleanupJobInput, 'outcome'>;
}

/** Why a job must not run (its data differs from the accepted request), or null. */
function refusalOf(run: StepRun, restore: Restore): PermanentStepError | null {
  try {
    assertJobAccepted(run.jobName, run.data, restore);
    return null;
  } catch (error) {
    if (error instanceof PermanentStepError) return error;
    throw error;
  }
}

const ENDED_OR_ENDING: readonly RestoreStatus[] = ['failed', 'cancelling', 'cancelled', 'succeeded'];

function cleanupInputOf(run: StepRun, outcome: RestoreOutcome): CleanupJobInput {
  return { ...targetFieldsOf(run.data), sourceAccountId: run.data.sourceAccountId, outcome };
}

export class RestoreLifecycle {
  constructor(
    private readonly store: RestoreStore,
    private readonly scheduleCleanup: CleanupScheduler,
    private readonly logger: StepLogger,
  ) {}

  /** The restore's status when it has ended or is ending (a running step must stop), else null. */
  async endedStatus(restoreId: string): Promise<RestoreStatus | null> {
    const status = await this.store.getStatus(restoreId);
    return status !== null && ENDED_OR_ENDING.includes(status) ? status : null;
  }

  private requestCleanup(input: CleanupJobInput, pass?: CleanupPass): Promise<void> {
    return this.scheduleCleanup(input, cleanupJobIdFor(input.restoreId, pass));
  }

  /**
   * A job starts (or resumes): stops at once when the restore ended, else records the step running.
   * @returns when the step first started (epoch ms): a resumed step has been waiting since then.
   */
  async start(run: StepRun): Promise<number> {
    const { restoreId } = run;
    if (run.jobName !== JobName.Cleanup) await this.checkpoint(run);
    const restore = await this.store.get(restoreId);
    if (!restore) {
      throw new PermanentStepError(`restore ${restoreId} is not in the store`, {
        code: 'internal_error',
        category: 'internal',
      });
    }
    const refused = refusalOf(run, restore);
    if (refused) await this.refuse(run, restore, refused);
    const step = restore.steps.find((s) => s.name === run.stepName);
    // Back from the delayed set (StepPendingError): the same attempt goes on, not a new one.
    const resumed = step?.status === 'running' && step.attempts >= run.attemptsMade + 1;
    if (!resumed) {
      await this.store.startStep(restoreId, run.stepName);
      this.logger.info(this.fields(run, { attempt: run.attemptsMade + 1 }), 'step started');
      return Date.now();
    }
    // The same attempt goes on: back from the delayed set, or taken over from a worker that died.
    this.logger.info(this.fields(run, { attempt: step.attempts }), 'step resumed');
    return step.startedAt ? Date.parse(step.startedAt) : Date.now();
  }

  /** Throws `RestoreEndedError` (after requesting cleanup) when the restore ended while the job ran. */
  async checkpoint(run: StepRun): Promise<void> {
    const ended = await this.endedStatus(run.restoreId);
    if (ended) await this.stopForEndedRestore(run, ended);
  }

  /** The restore was cancelled or failed elsewhere: the step stops, cleanup runs (again, for what it made). */
  async stopForEndedRestore(run: StepRun, status: RestoreStatus): Promise<never> {
    const { restoreId } = run;
    await this.store.finishStep(restoreId, run.stepName, 'cancelled').catch(() => {});
    const outcome = status === 'failed' ? 'failed' : 'cancelled';
    await this.requestCleanup(cleanupInputOf(run, outcome));
    // A second pass for what this job may have made after the first cleanup looked.
    await this.requestCleanup(cleanupInputOf(run, outcome), { afterJob: run.jobId });
    throw new RestoreEndedError(restoreId, status);
  }

  /**
   * A job that is not what the API accepted (`../queue/accepted-job.ts`): do nothing it asks, fail the
   * restore saying why, and clean up what the restore's other (accepted) jobs made, with the target
   * from the record.
   */
  private async refuse(run: StepRun, restore: Restore, error: PermanentStepError): Promise<never> {
    this.logger.error(this.fields(run, { err: error.message }), 'job refused');
    if (restore.steps.some((s) => s.name === run.stepName))
      await this.store.finishStep(restore.id, run.stepName, 'failed').catch(() => {});
    const status = await this.store.getStatus(restore.id);
    if (status === 'running' || status === 'queued' || status === 'cancelling')
      await this.store.fail(restore.id, restoreErrorOf(error, run.stepName));
    const request = restoreRequestSchema.safeParse(restore.request);
    if (request.success && run.jobName !== JobName.Cleanup) {
      const target = acceptedTargetOf(restore, request.data);
      const claimed = (run.data as { sourceAccountId?: unknown }).sourceAccountId;
      const sourceAccountId =
        restore.mode === 'same-account' ? target.targetAccountId : typeof claimed === 'string' ? claimed : '';
      await this.requestCleanup({ ...target, sourceAccountId, outcome: 'failed' }, { refusedJob: run.jobId });
    }
    throw error;
  }

  /** A failure that the queue will retry: only logged (the attempt count is the queue's). */
  willRetry(run: StepRun, error: Error): void {
    this.logger.warn(
      this.fields(run, { err: error.message, attempt: run.attemptsMade + 1 }),
      'step failed, will retry',
    );
  }

  /** The job failed for good: the step and the restore fail, cleanup runs. */
  async failedForGood(run: StepRun, error: Error): Promise<void> {
    const { restoreId } = run;
    this.logger.error(this.fields(run, { err: error.message }), 'step failed for good');
    await this.store.finishStep(restoreId, run.stepName, 'failed');
    if (run.jobName === JobName.Cleanup) {
      await this.cleanupDone(run.data as CleanupJobInput).catch(() => {});
      return;
    }
    const status = await this.store.getStatus(restoreId);
    if (status === 'running' || status === 'queued' || status === 'cancelling') {
      await this.store.fail(restoreId, restoreErrorOf(error, run.stepName));
    }
    await this.requestCleanup(cleanupInputOf(run, 'failed'));
  }

  /** The job succeeded: the step is done; the instance step's success and cleanup's end move the restore on. */
  async succeeded(run: StepRun, value: unknown): Promise<void> {
    const { restoreId } = run;
    await this.store.finishStep(restoreId, run.stepName, 'succeeded');
    this.logger.info(this.fields(run), 'step succeeded');
    if (run.jobName === JobName.Cleanup) {
      await this.cleanupDone(run.data as CleanupJobInput);
      return;
    }
    // A restore that ended while this job ran: what the job made must go too.
    const ended = await this.endedStatus(restoreId);
    if (ended === 'failed' || ended === 'cancelling' || ended === 'cancelled') {
      await this.requestCleanup(cleanupInputOf(run, ended === 'failed' ? 'failed' : 'cancelled'), {
        afterJob: run.jobId,
      });
    } else if (run.jobName === JobName.Instance) {
      // Held in the record, shown once the cleanup is done and the restore succeeds.
      await this.store.holdResult(restoreId, value as InstanceJobResult);
      await this.requestCleanup(cleanupInputOf(run, 'succeeded'));
    }
  }

  private async cleanupDone(input: CleanupJobInput): Promise<void> {
    const status = await this.store.getStatus(input.restoreId);
    if (input.outcome !== 'cancelled' && status === 'cancelling') {
      // Cancelled while the flow was finishing: undo the restore too, then it is `cancelled`.
      await this.requestCleanup({ ...input, outcome: 'cancelled' }, 'cancelled');
    } else if (input.outcome === 'succeeded' && status === 'running') {
      // With the result the instance step's success held in the record.
      await this.store.succeed(input.restoreId);
    } else if (input.outcome === 'cancelled' && (status === 'cancelling' || status === 'queued')) {
      await this.store.setStatus(input.restoreId, 'cancelled');
    }
  }

  private fields(run: StepRun, extra: object = {}) {
    return {
      restoreId: run.data.restoreId,
      jobId: run.jobId,
      job: run.jobName,
      step: run.stepName,
      ...extra,
    };
  }
}

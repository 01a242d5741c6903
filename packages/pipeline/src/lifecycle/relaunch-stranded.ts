/**
 * Restores no worker will move on, looked for periodically by every API process:
 *
 * - Accepting a restore is two writes: the record, then the flow (`accept-restore.ts`). An API process
 *   that dies between them (SIGKILL, OOM, a node going away) leaves a restore `queued` that no job will
 *   ever start. Such a restore (no step started, no root job in the queue) gets its flow added after
 *   the pre-flight checks run again: job ids come from the restore id, so a flow added twice by two API
 *   replicas is added once.
 * - A cancel is seen by the workers: the next job of the restore stops, cleans up and ends it
 *   `cancelled`. While no worker of that job's queue runs (scaled to zero, crash-looping), a restore
 *   cancelled before any step started would stay `cancelling`. Nothing of it exists in AWS then: a job
 *   records its step `running` before its processor makes any AWS call, and one that finds the restore
 *   cancelling records its step `cancelled` (the pre-flight only reads, or uses `DryRun`). So the pass
 *   removes such a restore's jobs from the queues and ends it `cancelled` itself.
 */
import { JobName, jobIdFor, QueueName, type RestoreRequest } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import type { Queue } from 'bullmq';
import type { AcceptRestorePorts } from './accept-restore.ts';

export interface RelaunchOptions {
  /**
   * Leave alone restores younger than this (their POST may still be adding the flow) and cancels
   * younger than this (a worker may be about to see them).
   */
  olderThanMs: number;
  /**
   * Whether the restore's flow is in the queues (its root job exists): cheap, asked before the
   * pre-flight checks run again, so restores merely waiting for a worker cost one Redis call.
   */
  flowExists: (restoreId: string) => Promise<boolean>;
  /**
   * Removes the restore's flow (its root job and every job under it) from the queues; false, removing
   * nothing, when one of its jobs is held by a live worker (that worker will see the cancel).
   */
  removeFlow: (restoreId: string) => Promise<boolean>;
  /** @defaultValue Date.now */
  now?: () => number;
  /**
   * Restores read (and flows asked about) per Redis round trip. A pass walks every old enough
   * restore a page at a time, so it holds one page whatever the backlog, and requests are served
   * between pages. @defaultValue 100
   */
  pageSize?: number;
}

export interface RelaunchReport {
  /** Flows added again (or found there already). */
  relaunched: string[];
  /** Pre-flight now fails: the restore is `failed`; nothing had been started. */
  refused: string[];
  /** Cancelled before any step started, no worker took it: its jobs removed, the restore `cancelled`. */
  cancelled: string[];
  /** Could not be planned or added now (AWS or Redis trouble): tried again next pass. */
  deferred: Array<{ restoreId: string; error: string }>;
}

/** A restore that may never have had its flow added: every step still `pending`. */
function untouched(restore: Restore): boolean {
  return restore.steps.every((step) => step.status === 'pending');
}

/**
 * One pass: ends untouched cancelled restores, adds the flow of untouched `queued` ones that lost it.
 * Only restores created at least `olderThanMs` ago are read. A `queued` restore has no step started
 * (the first step moves it to `running`), so for each one the pass asks only whether its flow exists,
 * a page at a time, and reads the record of those whose flow is gone.
 */
export async function relaunchStranded(
  ports: AcceptRestorePorts,
  options: RelaunchOptions,
): Promise<RelaunchReport> {
  const now = options.now ?? Date.now;
  const pageSize = options.pageSize ?? 100;
  const report: RelaunchReport = { relaunched: [], refused: [], cancelled: [], deferred: [] };
  const createdUpTo = now() - options.olderThanMs;
  const defer = (restoreId: string, error: unknown) =>
    report.deferred.push({ restoreId, error: (error as Error).message });
  for await (const ids of ports.store.idPages('cancelling', createdUpTo, pageSize)) {
    // With no step started, nothing but the cancel changed the record: `updatedAt` is when it came.
    const restores = await ports.store.getMany<RestoreRequest>(ids);
    for (const restore of restores.filter((r) => untouched(r) && Date.parse(r.updatedAt) <= createdUpTo)) {
      try {
        const outcome = await endCancelled(ports, options, restore.id);
        if (outcome === 'cancelled') report.cancelled.push(restore.id);
        if (outcome === 'taken') defer(restore.id, new Error('a worker took one of its jobs meanwhile'));
      } catch (error) {
        defer(restore.id, error);
      }
    }
  }
  for await (const ids of ports.store.idPages('queued', createdUpTo, pageSize)) {
    const flows = await Promise.allSettled(ids.map((id) => options.flowExists(id)));
    for (const [i, id] of ids.entries()) {
      const flow = flows[i]!;
      if (flow.status === 'rejected') defer(id, flow.reason);
      if (flow.status === 'rejected' || flow.value) continue;
      try {
        // Read now, after the flow was found missing: it may have started or ended meanwhile.
        const restore = await ports.store.get<RestoreRequest>(id);
        if (restore?.status === 'queued' && untouched(restore)) await relaunch(ports, restore, report);
      } catch (error) {
        defer(id, error);
      }
    }
  }
  return report;
}

/**
 * Removes the jobs of a cancelled restore no step of which started, then ends it `cancelled`; `taken`
 * when a worker holds one of its jobs (it sees the cancel), `gone` when it ended meanwhile (another
 * API process's pass).
 */
async function endCancelled(
  ports: AcceptRestorePorts,
  options: RelaunchOptions,
  id: string,
): Promise<'cancelled' | 'taken' | 'gone'> {
  if (!(await options.removeFlow(id))) return 'taken';
  // Looked at again once no job of it can start: a job taken just before the removal has marked its step.
  const restore = await ports.store.get(id);
  if (restore?.status !== 'cancelling') return 'gone';
  if (!untouched(restore)) return 'taken';
  // Already `cancelled` (no change): another process's pass got there between the read and the write.
  return (await ports.store.setStatus(id, 'cancelled')) === 'cancelled' ? 'gone' : 'cancelled';
}

async function relaunch(
  ports: AcceptRestorePorts,
  restore: Restore<RestoreRequest>,
  report: RelaunchReport,
): Promise<void> {
  const planned = await ports.planner.plan(restore.request);
  if (!planned.plan.ok) {
    const failedChecks = planned.plan.checks.filter((c) => c.status === 'fail');
    await ports.store.fail(restore.id, {
      code: 'preflight_failed',
      message: `The restore was accepted but its flow was never added (the API stopped); checked again before adding it, a pre-flight check now fails: ${failedChecks.map((c) => `${c.id}: ${c.message}`).join('; ')}`,
      category: 'input',
      step: null,
      awsRequestId: null,
    });
    report.refused.push(restore.id);
    return;
  }
  await ports.launcher.start(restore, planned);
  report.relaunched.push(restore.id);
}

/**
 * `flowExists` and `removeFlow` on the queues: a restore's flow is rooted at its instance job
 * (`../restore-flow.ts`), whose removal takes every job under it, in every queue.
 */
export function flowInQueues(instanceQueue: Queue): Pick<RelaunchOptions, 'flowExists' | 'removeFlow'> {
  if (instanceQueue.name !== QueueName.Instance)
    throw new Error(`not the instance queue: ${instanceQueue.name}`);
  const rootOf = (restoreId: string) => jobIdFor(restoreId, JobName.Instance);
  return {
    // The root job's hash exists while the job does, in whatever state (O(1); BullMQ stores every job
    // with its `timestamp`). Not getJobState: it scans the queue's active and wait lists (LPOS), so
    // asking it for each of thousands of queued restores would hold Redis for a time that grows with both.
    flowExists: async (restoreId) =>
      (await (await instanceQueue.client).hexists(instanceQueue.toKey(rootOf(restoreId)), 'timestamp')) === 1,
    removeFlow: async (restoreId) => (await instanceQueue.remove(rootOf(restoreId))) === 1,
  };
}

/** Runs {@link relaunchStranded} every `intervalMs` (first pass at once); returns stop. */
export function startRelaunchingStranded(
  ports: AcceptRestorePorts,
  options: RelaunchOptions & {
    intervalMs: number;
    onReport: (report: RelaunchReport) => void;
    onError: (error: Error) => void;
  },
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= relaunchStranded(ports, options)
      .then(options.onReport, options.onError)
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

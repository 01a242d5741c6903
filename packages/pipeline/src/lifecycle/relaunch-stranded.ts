/**
 * Accepting a restore is two writes: the record, then the flow (`accept-restore.ts`). An API process
 * that dies between them (SIGKILL, OOM, a node going away) leaves a restore `queued` that no job will
 * ever start, and a cancel of it would stay `cancelling`. The API looks for such restores periodically
 * (no step started, no root job in the queue) and adds their flow after running the pre-flight checks
 * again: job ids come from the restore id, so a flow added twice by two API replicas is added once.
 */
import type { RestoreRequest } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import type { AcceptRestorePorts } from './accept-restore.ts';

export interface RelaunchOptions {
  /** Leave alone restores younger than this: their POST may still be adding the flow. */
  olderThanMs: number;
  /**
   * Whether the restore's flow is in the queues (its root job exists): cheap, asked before the
   * pre-flight checks run again, so restores merely waiting for a worker cost one Redis call.
   */
  flowExists: (restoreId: string) => Promise<boolean>;
  /** @defaultValue Date.now */
  now?: () => number;
  /** How many restores of each status to look at per pass. @defaultValue 1000 */
  limit?: number;
}

export interface RelaunchReport {
  /** Flows added again (or found there already). */
  relaunched: string[];
  /** Pre-flight now fails: the restore is `failed` (`cancelled` when a cancel came); nothing had been started. */
  refused: string[];
  /** Could not be planned or added now (AWS or Redis trouble): tried again next pass. */
  deferred: Array<{ restoreId: string; error: string }>;
}

/** A restore that may never have had its flow added: every step still `pending`. */
function untouched(restore: Restore): boolean {
  return restore.steps.every((step) => step.status === 'pending');
}

/** One pass: adds the flow of every `queued` or `cancelling` restore older than `olderThanMs` no job has touched. */
export async function relaunchStranded(
  ports: AcceptRestorePorts,
  options: RelaunchOptions,
): Promise<RelaunchReport> {
  const now = options.now ?? Date.now;
  const limit = options.limit ?? 1000;
  const report: RelaunchReport = { relaunched: [], refused: [], deferred: [] };
  const candidates = [
    ...(await ports.store.list<RestoreRequest>({ status: 'queued', limit })),
    ...(await ports.store.list<RestoreRequest>({ status: 'cancelling', limit })),
  ].filter((r) => untouched(r) && now() - Date.parse(r.createdAt) >= options.olderThanMs);
  for (const restore of candidates) {
    try {
      if (await options.flowExists(restore.id)) continue;
      const planned = await ports.planner.plan(restore.request);
      if (!planned.plan.ok && restore.status === 'cancelling') {
        // Cancelled, and its flow cannot be built: nothing was started, so nothing is to be cleaned.
        await ports.store.setStatus(restore.id, 'cancelled');
        report.refused.push(restore.id);
        continue;
      }
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
        continue;
      }
      await ports.launcher.start(restore, planned);
      report.relaunched.push(restore.id);
    } catch (error) {
      report.deferred.push({ restoreId: restore.id, error: (error as Error).message });
    }
  }
  return report;
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

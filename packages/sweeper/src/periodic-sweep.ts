import { type SweepOptions, type SweepReport, sweepLeftovers } from './sweep-leftovers.ts';

/** The part of a pino logger the periodic sweep uses. */
export interface SweepLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface PeriodicSweepOptions extends SweepOptions {
  /** Time between the starts of two sweeps. */
  intervalMs: number;
  logger: SweepLogger;
  /**
   * Run one sweep right away instead of waiting one interval first.
   * @defaultValue false
   */
  runImmediately?: boolean;
  /** Called with each finished sweep's report (e.g. for metrics). */
  onReport?: (report: SweepReport) => void;
}

/**
 * Runs {@link sweepLeftovers} every `intervalMs`. A tick that comes while the previous sweep still
 * runs is skipped (and logged), so sweeps never overlap in one process; a failed sweep is logged and
 * the next tick tries again.
 *
 * @returns stop: clears the timer and resolves once a sweep in progress has finished.
 */
export function startPeriodicSweep(options: PeriodicSweepOptions): () => Promise<void> {
  const { intervalMs, logger, runImmediately, onReport, ...sweepOptions } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new Error(`intervalMs must be a positive number of milliseconds, got ${intervalMs}`);
  }
  let running: Promise<void> | undefined;
  let stopped = false;

  const tick = () => {
    if (stopped) return;
    if (running) {
      logger.warn({ intervalMs }, 'leftover sweep still running; skipping this interval');
      return;
    }
    running = (async () => {
      try {
        const report = await sweepLeftovers(sweepOptions);
        logger.info(
          {
            dryRun: report.dryRun,
            found: report.found.length,
            planned: report.planned.length,
            removed: report.removed.map((r) => r.resource.id),
            failed: report.failed.map((f) => ({ id: f.resource.id, error: f.error })),
            locationErrors: report.locationErrors,
          },
          'leftover sweep finished',
        );
        onReport?.(report);
      } catch (error) {
        logger.error({ err: error }, 'leftover sweep failed');
      } finally {
        running = undefined;
      }
    })();
  };

  const timer = setInterval(tick, intervalMs);
  timer.unref();
  if (runImmediately) tick();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

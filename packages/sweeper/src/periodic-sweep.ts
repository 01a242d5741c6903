import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
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
  /**
   * Asked at each tick: false skips the tick (another replica sweeps this interval), see
   * {@link intervalClaim}. @defaultValue every tick sweeps
   */
  claim?: () => Promise<boolean>;
}

/**
 * One sweep per interval across every replica: the first replica whose tick comes in an interval
 * takes a Redis key for 90% of the interval (SET NX PX) and sweeps; the others' ticks find the key
 * and skip. A replica that dies holds the key no longer than that.
 */
export function intervalClaim(redis: Redis, key: string, intervalMs: number): () => Promise<boolean> {
  const holder = randomUUID();
  const ttlMs = Math.max(1, Math.floor(intervalMs * 0.9));
  return async () => (await redis.set(key, holder, 'PX', ttlMs, 'NX')) === 'OK';
}

/**
 * Runs {@link sweepLeftovers} every `intervalMs`. A tick that comes while the previous sweep still
 * runs is skipped (and logged), so sweeps never overlap in one process; with `claim`, a tick another
 * replica claimed is skipped too; a failed sweep (or claim) is logged and the next tick tries again.
 *
 * @returns stop: clears the timer and resolves once a sweep in progress has finished.
 */
export function startPeriodicSweep(options: PeriodicSweepOptions): () => Promise<void> {
  const { intervalMs, logger, runImmediately, onReport, claim, ...sweepOptions } = options;
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
        if (claim && !(await claim())) {
          logger.info({ intervalMs }, 'leftover sweep of this interval runs in another replica');
          return;
        }
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

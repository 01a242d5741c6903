/**
 * "Not done yet, come back later": AWS is still working (a snapshot `pending`, an instance
 * `stopping`). The step function throws it instead of waiting; the worker moves the job to the
 * delayed set (BullMQ `DelayedError`), so a long AWS wait does not hold a worker slot and does not
 * count as a failed attempt. The step is written to resume: it finds what it already made by tag.
 */
export class StepPendingError extends Error {
  constructor(
    readonly reason: string,
    /** When to look again. */
    readonly retryAfterMs: number,
  ) {
    super(`waiting: ${reason}`);
    this.name = 'StepPendingError';
  }
}

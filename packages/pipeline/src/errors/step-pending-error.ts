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

/**
 * How long a pending step waits in the delayed set before it looks again: a fifth of how long the
 * step has run so far, at least 500 ms and at most the error's `retryAfterMs`. A step that has just
 * found AWS still working looks again soon; one that has waited for minutes looks every
 * `retryAfterMs`, so a long wait does not poll AWS hard.
 */
export function pendingDelayMs(error: StepPendingError, stepRunningForMs: number): number {
  return Math.round(Math.min(error.retryAfterMs, Math.max(500, stepRunningForMs / 5)));
}

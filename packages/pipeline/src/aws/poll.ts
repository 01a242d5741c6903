import { isNewResourceNotFound } from '@ec2-restore/aws-clients';

export interface PollOptions {
  /** Give up (return undefined) after this long. */
  timeoutMs: number;
  /**
   * The longest pause between two checks. The first check after a miss comes sooner (`firstIntervalMs`)
   * and the pause grows by a quarter each time up to this (100 ms to 1 s in ten checks, 4.4 s): a
   * state that lasts a moment (a new id not visible for 300 ms, a volume `creating`) is seen within
   * about a fifth of its length, a long one is not polled hard.
   * @defaultValue 1000
   */
  intervalMs?: number;
  /** @defaultValue 100 */
  firstIntervalMs?: number;
  /** Stops the wait (undefined, as at the deadline) at the next look once aborted. */
  signal?: AbortSignal;
}

/**
 * Calls `check` until it returns a value or the time is up: a short, bounded wait inside a job.
 * Longer waits are handed back to the queue with `StepPendingError`.
 *
 * An id the step itself just created may answer "does not exist" for a while (EC2 is eventually
 * consistent: https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html); such an
 * answer counts as "not yet", within the same time bound.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  options: PollOptions,
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  const longest = options.intervalMs ?? 1000;
  let pause = Math.min(options.firstIntervalMs ?? 100, longest);
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch (error) {
      if (!isNewResourceNotFound(error)) throw error;
    }
    if (value !== undefined) return value;
    const now = Date.now();
    if (now >= deadline || options.signal?.aborted) return undefined;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, deadline - now)));
    pause = Math.min(longest, Math.ceil(pause * 1.25));
  }
}

export interface PollOptions {
  /** Give up (return undefined) after this long. */
  timeoutMs: number;
  /** @defaultValue 500 */
  intervalMs?: number;
}

/**
 * Calls `check` until it returns a value or the time is up: a short, bounded wait inside a job.
 * Longer waits are handed back to the queue with `StepPendingError`.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  options: PollOptions,
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 500;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() + interval > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

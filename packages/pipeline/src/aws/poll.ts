import type { EC2Client } from '@aws-sdk/client-ec2';
import { ec2CallBudgetOf } from '@ec2-restore/aws-budget';
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
  /**
   * Whether a look sooner than the schedule above may be spent now (see `quickLooksWithin`). While it
   * says yes, the looks of the wait's first `quickForMs` come every `quickIntervalMs`, and the growing
   * pause resumes where it was after that: a state of a few hundred milliseconds is seen within
   * `quickIntervalMs` of its end, at most `quickForMs / quickIntervalMs` looks more per wait. An
   * answer that fails counts as no.
   * @defaultValue never
   */
  quickLooks?: () => Promise<boolean>;
  /**
   * 25 ms: a modelled or real state of a few hundred milliseconds (a new id, a seal) is seen ~12 ms
   * after its end on average, for at most 40 looks more per wait, each a cheap Describe.
   * @defaultValue 25
   */
  quickIntervalMs?: number;
  /** @defaultValue 1000 */
  quickForMs?: number;
  /**
   * The first check comes after a pause, not at once: for a state the caller has just been told
   * holds (CompleteSnapshot answered `pending`), a look at once only spends a call.
   * @defaultValue false
   */
  pauseFirst?: boolean;
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
  const startedAt = Date.now();
  const deadline = startedAt + options.timeoutMs;
  const longest = options.intervalMs ?? 1000;
  let pause = Math.min(options.firstIntervalMs ?? 100, longest);
  const quickUntil = startedAt + (options.quickForMs ?? 1000);
  let look = options.pauseFirst !== true;
  for (;;) {
    if (look) {
      let value: T | undefined;
      try {
        value = await check();
      } catch (error) {
        if (!isNewResourceNotFound(error)) throw error;
      }
      if (value !== undefined) return value;
    }
    const looked = look;
    look = true;
    const now = Date.now();
    // At least one look, even with `pauseFirst` and no time left (a zero in-job wait).
    if (looked && (now >= deadline || options.signal?.aborted)) return undefined;
    const quick =
      now < quickUntil && options.quickLooks !== undefined && (await options.quickLooks().catch(() => false));
    const wait = quick ? Math.min(options.quickIntervalMs ?? 25, pause) : pause;
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, deadline - now)));
    if (!quick) pause = Math.min(longest, Math.ceil(pause * 1.25));
  }
}

/**
 * `quickLooks` for a wait whose checks call `operation` on `ec2`: yes while the client's EC2 call
 * budget (attachEc2CallBudget) keeps half its burst for that operation, so quick looks never take
 * tokens other restores need; yes without a budget (one process alone; the SDK's retries handle
 * AWS's RequestLimitExceeded).
 */
export function quickLooksWithin(ec2: EC2Client, operation: string): () => Promise<boolean> {
  return async () => (await ec2CallBudgetOf(ec2)?.hasRoom(operation)) ?? true;
}

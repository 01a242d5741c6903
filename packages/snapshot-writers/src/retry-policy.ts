import { classifyAwsError } from '@ec2-restore/aws-clients';

/** How the data path retries an AWS call. */
export interface RetryPolicy {
  /**
   * Attempts per call for throttling, 5xx and timeouts, the first included.
   * @defaultValue 10
   */
  maxAttempts: number;
  /** First backoff ceiling. @defaultValue 200 */
  baseDelayMs: number;
  /** Largest backoff ceiling. @defaultValue 20000 */
  maxDelayMs: number;
  /**
   * How long after StartSnapshot a "snapshot does not exist" answer is taken as AWS not having caught up
   * yet (and retried) rather than as a real absence.
   * @defaultValue 120000
   */
  snapshotNotFoundWindowMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 200,
  maxDelayMs: 20_000,
  snapshotNotFoundWindowMs: 120_000,
};

/**
 * Right after StartSnapshot, PutSnapshotBlock (and EC2 DescribeSnapshots) can answer that the snapshot does
 * not exist for a while: EBS direct's ResourceNotFoundException with reason SNAPSHOT_NOT_FOUND, EC2's
 * InvalidSnapshot.NotFound. https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors
 */
export function isSnapshotNotFound(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; Reason?: string; message?: string };
  const code = e?.Code ?? e?.name;
  if (code === 'InvalidSnapshot.NotFound') return true;
  if (code !== 'ResourceNotFoundException') return false;
  return e.Reason === 'SNAPSHOT_NOT_FOUND' || /snapshot/i.test(e.message ?? '');
}

/**
 * "Full jitter" backoff: a uniformly random delay below an exponentially growing ceiling, so many
 * in-flight requests that failed together do not retry together.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export type RetryDecision =
  | { retry: true; delayMs: number; reason: string }
  | { retry: false; reason: string };

export interface RetryContext {
  /** Attempts made so far (1 after the first failure). */
  attempt: number;
  /** Milliseconds since the snapshot was started, when the call is about a snapshot being written. */
  msSinceSnapshotStart?: number;
}

/** Decides whether a failed call is tried again, and after how long. Pure: the tests drive it directly. */
export function decideRetry(
  error: unknown,
  context: RetryContext,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): RetryDecision {
  if ((error as { name?: string })?.name === 'AbortError') return { retry: false, reason: 'aborted' };
  if (isSnapshotNotFound(error)) {
    if (
      context.msSinceSnapshotStart !== undefined &&
      context.msSinceSnapshotStart < policy.snapshotNotFoundWindowMs
    ) {
      // Bounded by time, not attempts: a short, capped delay, since the snapshot usually appears in seconds.
      return {
        retry: true,
        delayMs: Math.min(2_000, backoffDelayMs(context.attempt, policy, random) + 100),
        reason: 'snapshot not visible yet after StartSnapshot',
      };
    }
    return { retry: false, reason: 'snapshot does not exist' };
  }
  const classified = classifyAwsError(error);
  if (!classified.retryable) return { retry: false, reason: `${classified.code} is not retryable` };
  if (context.attempt >= policy.maxAttempts) {
    return { retry: false, reason: `${classified.code} after ${context.attempt} attempts` };
  }
  return { retry: true, delayMs: backoffDelayMs(context.attempt, policy, random), reason: classified.code };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface WithRetriesOptions {
  policy?: RetryPolicy;
  signal?: AbortSignal;
  /** When the snapshot the call is about was started (Date.now()), for the "does not exist" window. */
  snapshotStartedAt?: number;
  onRetry?: (error: unknown, decision: RetryDecision & { retry: true }, attempt: number) => void;
}

/** Runs `call` until it succeeds or `decideRetry` says stop; then throws the last error. */
export async function withRetries<T>(call: () => Promise<T>, options: WithRetriesOptions = {}): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY_POLICY;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      const context: RetryContext = { attempt };
      if (options.snapshotStartedAt !== undefined)
        context.msSinceSnapshotStart = Date.now() - options.snapshotStartedAt;
      const decision = decideRetry(error, context, policy);
      if (!decision.retry) throw error;
      options.onRetry?.(error, decision, attempt);
      await sleep(decision.delayMs, options.signal);
    }
  }
}

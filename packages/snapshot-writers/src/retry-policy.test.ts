import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, decideRetry, isSnapshotNotFound } from './retry-policy.ts';

const awsError = (name: string, status: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });

describe('decideRetry', () => {
  it('retries throttling, 5xx and timeouts until the attempt limit', () => {
    for (const error of [
      awsError('ThrottlingException', 400),
      awsError('RequestThrottledException', 400),
      awsError('InternalServerException', 500),
      awsError('ServiceUnavailable', 503),
      Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }),
    ]) {
      expect(decideRetry(error, { attempt: 1 }).retry).toBe(true);
      expect(decideRetry(error, { attempt: DEFAULT_RETRY_POLICY.maxAttempts }).retry).toBe(false);
    }
  });

  it('does not retry a permanent refusal', () => {
    expect(decideRetry(awsError('AccessDeniedException', 403), { attempt: 1 }).retry).toBe(false);
    expect(decideRetry(awsError('ValidationException', 400), { attempt: 1 }).retry).toBe(false);
  });

  it('retries "snapshot does not exist" only within the window after StartSnapshot', () => {
    const notFound = awsError('ResourceNotFoundException', 404, { Reason: 'SNAPSHOT_NOT_FOUND' });
    expect(isSnapshotNotFound(notFound)).toBe(true);
    expect(decideRetry(notFound, { attempt: 30, msSinceSnapshotStart: 5_000 }).retry).toBe(true);
    expect(decideRetry(notFound, { attempt: 1, msSinceSnapshotStart: 121_000 }).retry).toBe(false);
    expect(decideRetry(notFound, { attempt: 1 }).retry).toBe(false);
    expect(isSnapshotNotFound(awsError('InvalidSnapshot.NotFound', 400))).toBe(true);
    expect(
      isSnapshotNotFound(
        awsError('ResourceNotFoundException', 404, { Reason: 'GRANT_NOT_FOUND', message: 'grant' }),
      ),
    ).toBe(false);
  });
});

describe('backoffDelayMs', () => {
  it('stays below an exponential ceiling capped at maxDelayMs (full jitter)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, r) => {
          const delay = backoffDelayMs(attempt, DEFAULT_RETRY_POLICY, () => r);
          const ceiling = Math.min(
            DEFAULT_RETRY_POLICY.maxDelayMs,
            DEFAULT_RETRY_POLICY.baseDelayMs * 2 ** (attempt - 1),
          );
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(ceiling);
        },
      ),
    );
    expect(backoffDelayMs(3, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(400);
  });
});

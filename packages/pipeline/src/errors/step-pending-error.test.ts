import { describe, expect, it } from 'vitest';
import { pendingDelayMs, StepPendingError } from './step-pending-error.ts';

describe('pendingDelayMs', () => {
  it('looks again soon for a step that just started waiting, and at most every retryAfterMs later on', () => {
    const pending = new StepPendingError('snapshot snap-1 to complete', 10_000);
    expect(pendingDelayMs(pending, 0)).toBe(500);
    expect(pendingDelayMs(pending, 10_000)).toBe(2_000);
    expect(pendingDelayMs(pending, 30_000)).toBe(6_000);
    expect(pendingDelayMs(pending, 10 * 60_000)).toBe(10_000);
  });
});

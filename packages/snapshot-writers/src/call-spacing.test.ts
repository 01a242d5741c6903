import { describe, expect, it } from 'vitest';
import { CallSpacing } from './call-spacing.ts';

describe('CallSpacing', () => {
  it('starts a caller at once, then spaces the next ones 1/rate apart', () => {
    let now = 1_000;
    const spacing = new CallSpacing(500, () => now);
    expect([spacing.reserve(), spacing.reserve(), spacing.reserve()]).toEqual([0, 2, 4]);
    now += 3;
    expect(spacing.reserve()).toBe(3); // the fourth slot is at 1006
  });

  it('never lets a one-second window hold more than rate + 1 starts, however callers arrive', () => {
    let now = 0;
    const spacing = new CallSpacing(1000, () => now);
    const starts: number[] = [];
    // Bursts of 300 callers at once, with pauses between them: the worst case for a sliding window.
    for (const pause of [0, 0, 250, 0, 900, 10, 0, 0, 5]) {
      now += pause;
      for (let i = 0; i < 300; i += 1) starts.push(now + spacing.reserve());
    }
    starts.sort((a, b) => a - b);
    let most = 0;
    for (let i = 0, j = 0; i < starts.length; i += 1) {
      while (starts[i]! - starts[j]! >= 1000) j += 1;
      most = Math.max(most, i - j + 1);
    }
    expect(most).toBeLessThanOrEqual(1001);
    expect(most).toBeGreaterThan(900); // and it is not far slower than the rate
  });

  it('does not save up unused time: after a pause the next caller goes at once, without a burst', () => {
    let now = 0;
    const spacing = new CallSpacing(100, () => now);
    spacing.reserve();
    now = 5_000;
    expect([spacing.reserve(), spacing.reserve()]).toEqual([0, 10]);
  });

  it('0 means no spacing; a negative or non-finite rate is refused', () => {
    const spacing = new CallSpacing(0);
    expect([spacing.reserve(), spacing.reserve()]).toEqual([0, 0]);
    expect(() => new CallSpacing(-1)).toThrow(/perSecond/);
    expect(() => new CallSpacing(Number.NaN)).toThrow(/perSecond/);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reserveToken, type TokenBucketState } from './token-bucket.ts';

const mutating = { burst: 100, perSecond: 5 };

describe('reserveToken', () => {
  it('starts full: a burst of `burst` calls goes out at once, the next one waits for the refill', () => {
    let state: TokenBucketState | undefined;
    for (let i = 0; i < 100; i++) {
      const r = reserveToken(state, 1_000, mutating);
      expect(r).toMatchObject({ granted: true, waitMs: 0 });
      state = r.state;
    }
    expect(state?.tokens).toBe(0);
    // 101st call at the same instant: 1 token at 5/s is 200 ms away; with maxWaitMs 0 nothing is taken.
    const refused = reserveToken(state, 1_000, mutating);
    expect(refused).toMatchObject({ granted: false, waitMs: 200, state: { tokens: 0 } });
  });

  it('refills at perSecond, never above burst', () => {
    const empty = { tokens: 0, updatedAtMs: 0 };
    expect(reserveToken(empty, 1_000, mutating).state.tokens).toBe(4); // 5 refilled, 1 taken
    expect(reserveToken(empty, 3_600_000, mutating).state.tokens).toBe(99); // capped at 100, 1 taken
    expect(reserveToken(empty, 100, mutating)).toMatchObject({ granted: false, waitMs: 100 });
  });

  it('books ahead within maxWaitMs: each caller gets the next free slot, 1/perSecond apart', () => {
    let state: TokenBucketState | undefined = { tokens: 0, updatedAtMs: 0 };
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = reserveToken(state, 0, mutating, { maxWaitMs: 10_000 });
      expect(r.granted).toBe(true);
      waits.push(r.waitMs);
      state = r.state;
    }
    expect(waits).toEqual([200, 400, 600, 800, 1000]);
    expect(state?.tokens).toBe(-5);
    // A caller that would wait longer than it accepts takes nothing.
    const refused = reserveToken(state, 0, mutating, { maxWaitMs: 1_000 });
    expect(refused).toMatchObject({ granted: false, waitMs: 1_200, state: { tokens: -5 } });
  });

  it('does not refill twice when the clock goes backwards', () => {
    const state = { tokens: 0, updatedAtMs: 10_000 };
    const r = reserveToken(state, 5_000, mutating, { maxWaitMs: 1_000 });
    expect(r).toMatchObject({ granted: true, waitMs: 200, state: { tokens: -1, updatedAtMs: 10_000 } });
  });

  it('never lets more than burst + perSecond * t calls go out in t seconds (any arrival pattern)', () => {
    fc.assert(
      fc.property(
        fc.record({ burst: fc.integer({ min: 1, max: 200 }), perSecond: fc.integer({ min: 1, max: 50 }) }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 0, max: 5_000 }),
        (limit, gaps, maxWaitMs) => {
          // Callers arrive with the given gaps; each one that is granted sends at arrival + waitMs.
          let state: TokenBucketState | undefined;
          let now = 0;
          const sendTimes: number[] = [];
          for (const gap of gaps) {
            now += gap;
            const r = reserveToken(state, now, limit, { maxWaitMs });
            state = r.state;
            if (r.granted) sendTimes.push(now + r.waitMs);
            else expect(r.waitMs).toBeGreaterThan(maxWaitMs);
          }
          sendTimes.sort((a, b) => a - b);
          // Every window [sendTimes[i], sendTimes[j]] holds at most burst + rate * width calls.
          for (let i = 0; i < sendTimes.length; i++) {
            for (let j = i; j < sendTimes.length; j++) {
              const width = (sendTimes[j]! - sendTimes[i]!) / 1000;
              // +1 ms of slack per window for the rounding up of each wait to whole milliseconds.
              expect(j - i + 1).toBeLessThanOrEqual(limit.burst + limit.perSecond * (width + 0.001) + 1e-9);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { pollUntil } from './poll.ts';

const notFound = () =>
  Object.assign(new Error('The volume does not exist.'), { name: 'InvalidVolume.NotFound' });

describe('pollUntil', () => {
  it('looks again soon after a miss, then less and less often up to intervalMs', async () => {
    const at: number[] = [];
    const start = Date.now();
    const value = await pollUntil(
      async () => {
        at.push(Date.now() - start);
        return at.length === 6 ? 'ready' : undefined;
      },
      { timeoutMs: 5_000, firstIntervalMs: 40, intervalMs: 70 },
    );
    expect(value).toBe('ready');
    const pauses = at.slice(1).map((t, i) => t - at[i]!);
    // 40, 50, 63, then capped at 70 (timers may fire a little late, never early).
    expect(pauses[0]).toBeGreaterThanOrEqual(39);
    expect(pauses[1]).toBeGreaterThanOrEqual(49);
    expect(pauses[2]).toBeGreaterThanOrEqual(62);
    expect(pauses[3]).toBeGreaterThanOrEqual(69);
    expect(pauses[4]).toBeGreaterThanOrEqual(69);
  });

  it('looks every quickIntervalMs while quickLooks says yes, for quickForMs, then the growing pause resumes', async () => {
    const at: number[] = [];
    const start = Date.now();
    let asked = 0;
    const value = await pollUntil(
      async () => {
        at.push(Date.now() - start);
        return at[at.length - 1]! >= 700 ? 'ready' : undefined;
      },
      {
        timeoutMs: 5_000,
        firstIntervalMs: 300,
        intervalMs: 1_000,
        quickIntervalMs: 10,
        quickForMs: 100,
        quickLooks: async () => {
          asked += 1;
          return true;
        },
      },
    );
    expect(value).toBe('ready');
    const pauses = at.slice(1).map((t, i) => t - at[i]!);
    // Quick looks 10 ms apart while under 100 ms into the wait (timers may fire late, never early)...
    const quick = pauses.filter((p) => p < 150).length;
    expect(pauses[0]).toBeLessThan(150);
    expect(quick).toBeGreaterThanOrEqual(2);
    expect(quick).toBeLessThanOrEqual(10);
    // ...then 300 ms and growing (the quick looks did not advance the schedule), and no quick look again.
    expect(pauses.slice(0, quick).every((p) => p < 150)).toBe(true);
    expect(pauses[quick]).toBeGreaterThanOrEqual(299);
    expect(pauses[quick + 1]).toBeGreaterThanOrEqual(374);
    // Asked for each quick pause, never after the quick phase.
    expect(asked).toBe(quick);
  });

  it('keeps the growing pause when quickLooks says no or fails', async () => {
    for (const quickLooks of [async () => false, async () => Promise.reject(new Error('redis down'))]) {
      const at: number[] = [];
      const start = Date.now();
      await pollUntil(
        async () => {
          at.push(Date.now() - start);
          return at.length === 3 ? 'ready' : undefined;
        },
        { timeoutMs: 5_000, firstIntervalMs: 40, intervalMs: 70, quickIntervalMs: 5, quickLooks },
      );
      const pauses = at.slice(1).map((t, i) => t - at[i]!);
      expect(pauses[0]).toBeGreaterThanOrEqual(39);
      expect(pauses[1]).toBeGreaterThanOrEqual(49);
    }
  });

  it('with pauseFirst, makes its first check after the first pause', async () => {
    const start = Date.now();
    let firstAt = -1;
    await pollUntil(
      async () => {
        if (firstAt < 0) firstAt = Date.now() - start;
        return 'done';
      },
      { timeoutMs: 5_000, firstIntervalMs: 40, pauseFirst: true },
    );
    expect(firstAt).toBeGreaterThanOrEqual(39);
  });

  it('with pauseFirst and no time left (a zero in-job wait), still looks once', async () => {
    let calls = 0;
    const found = await pollUntil(
      async () => {
        calls += 1;
        return 'completed';
      },
      { timeoutMs: 0, pauseFirst: true },
    );
    expect(found).toBe('completed');
    expect(calls).toBe(1);
  });

  it("takes a new id's NotFound as not yet, and gives up at the deadline with undefined", async () => {
    let calls = 0;
    const found = await pollUntil(
      async () => {
        calls += 1;
        if (calls < 3) throw notFound();
        return 'visible';
      },
      { timeoutMs: 2_000, firstIntervalMs: 5 },
    );
    expect(found).toBe('visible');

    const start = Date.now();
    const never = await pollUntil(
      async () => {
        throw notFound();
      },
      { timeoutMs: 150, firstIntervalMs: 10, intervalMs: 50 },
    );
    expect(never).toBeUndefined();
    expect(Date.now() - start).toBeGreaterThanOrEqual(149);
  });

  it('stops at the next look once its signal is aborted, as at the deadline', async () => {
    const stop = new AbortController();
    let calls = 0;
    const start = Date.now();
    const value = await pollUntil(
      async () => {
        calls += 1;
        if (calls === 2) stop.abort();
        return undefined;
      },
      { timeoutMs: 5_000, firstIntervalMs: 10, intervalMs: 20, signal: stop.signal },
    );
    expect(value).toBeUndefined();
    expect(calls).toBe(2);
    expect(Date.now() - start).toBeLessThan(1_000);
  });

  it('lets any other error through at once', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'UnauthorizedOperation' });
    await expect(
      pollUntil(
        async () => {
          throw denied;
        },
        { timeoutMs: 5_000 },
      ),
    ).rejects.toBe(denied);
  });
});

import { describe, expect, it } from 'vitest';
import { runPool } from './run-pool.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('runPool', () => {
  it('never runs more than the limit, never shares a slot, and processes every item', async () => {
    let running = 0;
    let peak = 0;
    const slotsInUse = new Set<number>();
    const seen: number[] = [];
    async function* source() {
      for (let i = 0; i < 100; i++) yield i;
    }
    await runPool(source(), 7, async (item, slot) => {
      expect(slotsInUse.has(slot)).toBe(false);
      slotsInUse.add(slot);
      running += 1;
      peak = Math.max(peak, running);
      await tick();
      seen.push(item);
      running -= 1;
      slotsInUse.delete(slot);
    });
    expect(peak).toBe(7);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('pulls items only when a slot is free (backpressure)', async () => {
    let pulled = 0;
    let done = 0;
    async function* source() {
      for (let i = 0; i < 50; i++) {
        pulled += 1;
        expect(pulled - done).toBeLessThanOrEqual(4);
        yield i;
      }
    }
    await runPool(source(), 3, async () => {
      await tick();
      done += 1;
    });
    expect(done).toBe(50);
  });

  it('stops at the first failure and throws it', async () => {
    let started = 0;
    await expect(
      runPool(
        Array.from({ length: 100 }, (_, i) => i),
        4,
        async (item) => {
          started += 1;
          await tick();
          if (item === 10) throw new Error('block 10 failed');
        },
      ),
    ).rejects.toThrow('block 10 failed');
    expect(started).toBeLessThan(20);
  });
});

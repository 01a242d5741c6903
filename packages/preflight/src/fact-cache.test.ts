import { describe, expect, it } from 'vitest';
import { FactCache } from './fact-cache.ts';

const always = () => true;

describe('FactCache', () => {
  it('shares one load between callers at the same time and keeps the answer for its ttl', async () => {
    let now = 0;
    const cache = new FactCache(10, () => now);
    let loads = 0;
    const load = async () => ++loads;
    const [a, b] = await Promise.all([
      cache.get('k', 1000, load, always),
      cache.get('k', 1000, load, always),
    ]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    now = 999;
    expect(await cache.get('k', 1000, load, always)).toBe(1);
    now = 1001;
    expect(await cache.get('k', 1000, load, always)).toBe(2);
  });

  it('does not keep an answer `keep` refuses, nor a failed load', async () => {
    const cache = new FactCache();
    let loads = 0;
    await cache.get(
      'refused',
      60_000,
      async () => ++loads,
      () => false,
    );
    await cache.get(
      'refused',
      60_000,
      async () => ++loads,
      () => false,
    );
    expect(loads).toBe(2);
    await expect(cache.get('failed', 60_000, () => Promise.reject(new Error('no')), always)).rejects.toThrow(
      'no',
    );
    expect(await cache.get('failed', 60_000, async () => 'yes', always)).toBe('yes');
  });

  it('with a ttl of 0 always loads', async () => {
    const cache = new FactCache();
    let loads = 0;
    await cache.get('k', 0, async () => ++loads, always);
    await cache.get('k', 0, async () => ++loads, always);
    expect(loads).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries facts, dropping the oldest', async () => {
    const cache = new FactCache(3);
    for (let i = 0; i < 10; i++) await cache.get(`k${i}`, 60_000, async () => i, always);
    expect(cache.size).toBe(3);
    let loads = 0;
    expect(await cache.get('k9', 60_000, async () => ++loads, always)).toBe(9);
    expect(await cache.get('k0', 60_000, async () => ++loads, always)).toBe(1);
  });

  it('delete makes the next caller load again', async () => {
    const cache = new FactCache();
    await cache.get('k', 60_000, async () => 'old', always);
    cache.delete('k');
    expect(await cache.get('k', 60_000, async () => 'new', always)).toBe('new');
  });
});

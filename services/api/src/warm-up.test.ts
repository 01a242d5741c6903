import { describe, expect, it } from 'vitest';
import { warmRequestParsing, warmUp } from './warm-up.ts';

describe('warmRequestParsing', () => {
  it('parses its sample body through the JSON parser and the restore request schema (a schema change that refuses it fails here, not silently at start)', async () => {
    await expect(warmRequestParsing()).resolves.toBeUndefined();
  });
});

describe('warmUp', () => {
  it('waits for every warm-up, and reports a failed one by name instead of throwing', async () => {
    const done: string[] = [];
    const failed: string[] = [];
    await warmUp(
      {
        first: async () => void done.push('first'),
        broken: async () => {
          throw new Error('no route to AWS');
        },
        second: async () => void done.push('second'),
      },
      60_000,
      (name, err) => failed.push(`${name}: ${(err as Error).message}`),
    );
    expect(done.sort()).toEqual(['first', 'second']);
    expect(failed).toEqual(['broken: no route to AWS']);
  });

  it('stops waiting at its bound when a warm-up hangs (the API then listens anyway)', async () => {
    await expect(warmUp({ hangs: () => new Promise(() => {}) }, 20, () => {})).resolves.toBeUndefined();
  });
});

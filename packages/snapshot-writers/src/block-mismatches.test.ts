import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockMismatches } from './block-mismatches.ts';

const mismatch = (blockIndex: number) => ({ blockIndex, expectedSha256: 'e', actualSha256: 'a' });

describe('BlockMismatches', () => {
  it('lists mismatches ascending by block index whatever order they were found in', () => {
    const found = new BlockMismatches();
    for (const index of [0, 4, 3, 1000, 2047, 1]) found.add(mismatch(index));
    expect(found.list().map((m) => m.blockIndex)).toEqual([0, 1, 3, 4, 1000, 2047]);
    expect(found.count).toBe(6);
  });

  it('keeps the lowest indexes up to the limit and counts them all', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat({ max: 100_000 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 50 }),
        (indexes, limit) => {
          const found = new BlockMismatches(limit);
          for (const index of indexes) found.add(mismatch(index));
          const expected = [...indexes].sort((a, b) => a - b).slice(0, limit);
          expect(found.list().map((m) => m.blockIndex)).toEqual(expected);
          expect(found.count).toBe(indexes.length);
        },
      ),
    );
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new BlockMismatches(0)).toThrow(/positive integer/);
  });
});

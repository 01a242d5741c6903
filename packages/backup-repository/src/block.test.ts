import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOCK_SIZE, isZeroBlock, sha256Hex, ZERO_BLOCK_SHA256_HEX } from './block.ts';
import { readRawImage, volumeSizeGiBForBytes } from './sources.ts';

describe('isZeroBlock', () => {
  it('is true only when every byte is zero', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: BLOCK_SIZE - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, value) => {
          const block = Buffer.alloc(BLOCK_SIZE);
          expect(isZeroBlock(block)).toBe(true);
          block[at] = value;
          expect(isZeroBlock(block)).toBe(false);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('knows the hash of a zero block', () => {
    expect(ZERO_BLOCK_SHA256_HEX).toBe(sha256Hex(Buffer.alloc(BLOCK_SIZE)));
  });
});

describe('readRawImage', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('yields only the blocks that hold data, at their indices, with the tail padded', async () => {
    dir = await mkdtemp(join(tmpdir(), 'raw-image-'));
    const path = join(dir, 'disk.img');
    await writeFile(path, '');
    await truncate(path, 40 * BLOCK_SIZE + 1000); // sparse, ends mid-block
    const handle = await open(path, 'r+');
    await handle.write(Buffer.from('boot'), 0, 4, 0);
    await handle.write(Buffer.from('data'), 0, 4, 17 * BLOCK_SIZE + 5);
    await handle.write(Buffer.from('tail'), 0, 4, 40 * BLOCK_SIZE + 990);
    await handle.close();

    const blocks: { index: number; sha256: string }[] = [];
    for await (const block of readRawImage(path, 4 * BLOCK_SIZE)) {
      blocks.push({ index: block.index, sha256: sha256Hex(block.data!) });
    }
    const expected = (index: number, at: number, text: string) => {
      const b = Buffer.alloc(BLOCK_SIZE);
      b.write(text, at);
      return { index, sha256: sha256Hex(b) };
    };
    expect(blocks).toEqual([expected(0, 0, 'boot'), expected(17, 5, 'data'), expected(40, 990, 'tail')]);
  });

  it('rounds volume sizes up to whole GiB', () => {
    expect(volumeSizeGiBForBytes(1)).toBe(1);
    expect(volumeSizeGiBForBytes(1024 ** 3)).toBe(1);
    expect(volumeSizeGiBForBytes(1024 ** 3 + 1)).toBe(2);
  });
});

import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlockListFormatError, BlockListWriter, type BlockRef, readBlockList } from './block-list.ts';

async function collect(source: AsyncIterable<BlockRef>): Promise<BlockRef[]> {
  const out: BlockRef[] = [];
  for await (const ref of source) out.push(ref);
  return out;
}

describe('block list', () => {
  it('round-trips hashes and zero marks and is pinned by its SHA-256', async () => {
    const writer = new BlockListWriter();
    const refs = ['a'.repeat(64), null, null, 'b'.repeat(64)];
    for (const ref of refs) await writer.append(ref);
    const written = await writer.finish();
    const text = await readFile(written.path);
    await written.cleanup();
    expect(writer.zeroBlocks).toBe(2);
    const read = await collect(readBlockList(Readable.from([text]), 4, written.sha256));
    expect(read).toEqual(refs.map((sha256, index) => ({ index, sha256 })));

    await expect(collect(readBlockList(Readable.from([text]), 5, written.sha256))).rejects.toThrow(
      /4 blocks listed, the manifest says 5/,
    );
    const tampered = Buffer.from(text.toString().replace('b'.repeat(64), 'c'.repeat(64)));
    await expect(collect(readBlockList(Readable.from([tampered]), 4, written.sha256))).rejects.toThrow(
      BlockListFormatError,
    );
    await expect(collect(readBlockList(Readable.from(['zz\n']), 1, written.sha256))).rejects.toThrow(
      /line 1/,
    );
  });
});

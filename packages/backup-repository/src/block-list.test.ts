import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BlockListFormatError,
  BlockListWriter,
  type BlockRef,
  forEachBlockListed,
  readBlockList,
} from './block-list.ts';

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

  it('reads the same refs however the stream is cut, with LF or CRLF line ends, in both readers', async () => {
    const writer = new BlockListWriter();
    const refs = ['a'.repeat(64), null, 'b'.repeat(64), null, 'c'.repeat(64)];
    for (const ref of refs) await writer.append(ref);
    const written = await writer.finish();
    const text = (await readFile(written.path)).toString('latin1');
    await written.cleanup();
    const expected = refs.map((sha256, index) => ({ index, sha256 }));
    const viaCallback = async (chunks: (string | Buffer)[]): Promise<BlockRef[]> => {
      const out: BlockRef[] = [];
      await forEachBlockListed(Readable.from(chunks), 5, written.sha256, (ref) => out.push(ref));
      return out;
    };
    // Cut inside a line, right after a line end, and one byte at a time; strings and Buffers.
    const cuts = [
      [text.slice(0, 30), text.slice(30, 66), text.slice(66)],
      [Buffer.from(text.slice(0, 65)), Buffer.from(text.slice(65))],
      [...text],
      [text.replaceAll('\n', '\r\n')],
    ];
    for (const chunks of cuts) {
      expect(await collect(readBlockList(Readable.from(chunks), 5, written.sha256))).toEqual(expected);
      expect(await viaCallback(chunks)).toEqual(expected);
    }
    // The last line without its line end still counts; the list then hashes as written (LF endings).
    expect(await viaCallback([text.slice(0, -1)])).toEqual(expected);
    await expect(viaCallback([text, '0\n'])).rejects.toThrow(/more than 5 blocks/);
    await expect(viaCallback([text.replace('0\n', '1\n')])).rejects.toThrow(/line 2 is neither/);
    await expect(viaCallback([text.replace('a', 'f')])).rejects.toThrow(/it hashes to/);
  });
});

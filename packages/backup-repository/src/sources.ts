import { open, stat } from 'node:fs/promises';
import { type EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { BLOCK_SIZE, GIB, isZeroBlock, sha256 } from './block.ts';
import type { SourceBlock } from './restore-point-builder.ts';

/** Size of a raw image rounded up to whole GiB (EBS volumes are sized in GiB). */
export function volumeSizeGiBForBytes(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / GIB));
}

export async function rawImageSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

/**
 * Reads a raw disk image block by block, yielding only blocks that hold data. Node has no binding for
 * lseek(SEEK_DATA/SEEK_HOLE), so holes are found by reading: the kernel fills a hole with zeros without
 * touching the disk, and a zero block is recognised by a memcmp, so an 8 GiB image with 100 MiB of data
 * costs ~8 GiB of memcpy (a couple of seconds) and hashes only its 100 MiB. Reads go in 8 MiB chunks to
 * keep syscalls few; one chunk buffer is reused (the yielded data is valid until the next block is asked).
 */
export async function* readRawImage(path: string, chunkBytes = 16 * BLOCK_SIZE): AsyncGenerator<SourceBlock> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const chunk = Buffer.allocUnsafe(chunkBytes);
    for (let offset = 0; offset < size; offset += chunkBytes) {
      let filled = 0;
      while (filled < chunkBytes && offset + filled < size) {
        const { bytesRead } = await handle.read(chunk, filled, chunkBytes - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      // The image's tail may end mid-block: the rest of that block is zeros.
      if (filled % BLOCK_SIZE !== 0) chunk.fill(0, filled, Math.ceil(filled / BLOCK_SIZE) * BLOCK_SIZE);
      for (let at = 0; at < filled; at += BLOCK_SIZE) {
        const data = chunk.subarray(at, at + BLOCK_SIZE);
        if (!isZeroBlock(data)) yield { index: (offset + at) / BLOCK_SIZE, data };
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * Reads an EBS snapshot through the EBS direct APIs: ListSnapshotBlocks gives the blocks that hold data
 * (never-written blocks are absent and read as zeros), GetSnapshotBlock their data with a SHA-256 that is
 * checked (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-checksums.html). Blocks are
 * fetched `concurrency` at a time and yielded in index order. EBS reads only a completed snapshot:
 * wait for it first (waitUntilSnapshotReadable).
 */
export async function* readEbsSnapshot(
  ebs: EBSClient,
  snapshotId: string,
  options: { concurrency?: number; signal?: AbortSignal } = {},
): AsyncGenerator<SourceBlock> {
  const concurrency = options.concurrency ?? 16;
  let token: string | undefined;
  do {
    const page = await ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: token, MaxResults: 1000 }),
      { abortSignal: options.signal },
    );
    if (page.BlockSize !== undefined && page.BlockSize !== BLOCK_SIZE) {
      throw new Error(
        `Snapshot ${snapshotId} has ${page.BlockSize}-byte blocks; only ${BLOCK_SIZE} is supported`,
      );
    }
    const blocks = page.Blocks ?? [];
    for (let start = 0; start < blocks.length; start += concurrency) {
      const batch = blocks.slice(start, start + concurrency);
      const datas = await Promise.all(
        batch.map(async (block) => {
          const out = await ebs.send(
            new GetSnapshotBlockCommand({
              SnapshotId: snapshotId,
              BlockIndex: block.BlockIndex,
              BlockToken: block.BlockToken,
            }),
            { abortSignal: options.signal },
          );
          const data = Buffer.from(await out.BlockData!.transformToByteArray());
          if (out.Checksum && sha256(data).toString('base64') !== out.Checksum) {
            throw new Error(
              `Snapshot ${snapshotId} block ${block.BlockIndex}: data does not match its checksum; try again`,
            );
          }
          return { index: block.BlockIndex!, data };
        }),
      );
      for (const block of datas)
        yield block.data.length === BLOCK_SIZE && isZeroBlock(block.data)
          ? { index: block.index, data: null }
          : block;
    }
    token = page.NextToken;
  } while (token !== undefined);
}

/** The volume size (GiB) of an EBS snapshot, as ListSnapshotBlocks reports it. */
export async function ebsSnapshotVolumeSizeGiB(ebs: EBSClient, snapshotId: string): Promise<number> {
  const page = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, MaxResults: 100 }));
  if (page.VolumeSize === undefined)
    throw new Error(`Snapshot ${snapshotId}: EBS did not report its volume size`);
  return page.VolumeSize;
}

/** The EBS direct data plane as tests call it: one block written, one block read back. */
import { createHash } from 'node:crypto';
import {
  type EBSClient,
  GetSnapshotBlockCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
} from '@aws-sdk/client-ebs';

/** SHA-256 of a block, base64, as PutSnapshotBlock and GetSnapshotBlock carry it. */
export function blockChecksum(data: Buffer): string {
  return createHash('sha256').update(data).digest('base64');
}

/** PutSnapshotBlock of `data` at `index` (with its checksum, or the one given). */
export function putBlock(
  ebs: EBSClient,
  snapshotId: string,
  index: number,
  data: Buffer,
  checksum = blockChecksum(data),
) {
  return ebs.send(
    new PutSnapshotBlockCommand({
      SnapshotId: snapshotId,
      BlockIndex: index,
      BlockData: data,
      DataLength: data.length,
      Checksum: checksum,
      ChecksumAlgorithm: 'SHA256',
    }),
  );
}

/** ListSnapshotBlocks for the block's token, then GetSnapshotBlock: its bytes and checksum. */
export async function readBlock(
  ebs: EBSClient,
  snapshotId: string,
  index: number,
): Promise<{ data: Buffer; checksum: string | undefined }> {
  const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
  const token = listed.Blocks?.find((b) => b.BlockIndex === index)?.BlockToken;
  const out = await ebs.send(
    new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: index, BlockToken: token }),
  );
  return { data: Buffer.from((await out.BlockData?.transformToByteArray()) ?? []), checksum: out.Checksum };
}

import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { BLOCK_SIZE, blockKey, GIB, readRawImage, runPool, sha256Hex } from '@ec2-restore/backup-repository';
import { RestoreTag } from '@ec2-restore/contracts';
import { verifySnapshotAgainstRestorePoint } from '@ec2-restore/snapshot-writers';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accountWithKey,
  blockOfFile,
  ebsDirectWriter,
  expectBlockIntegrityError,
  INSTANCE,
  restorePointPerFile,
  sparseImage,
  writeRootVolume,
} from '../support/index.ts';

// The emulator (moto) takes tens of milliseconds per PutSnapshotBlock/GetSnapshotBlock, and the smallest
// volume is 1 GiB (2,048 blocks): a write or a full read-back takes a minute or more on a busy machine.
const SLOW = 600_000;

// Raw image -> restore point -> encrypted snapshot through the EBS direct APIs of the emulator -> read back.
describe('ebs-direct writer', () => {
  let aws: AwsClients;
  let keyArn: string;
  const dataBlocks = [0, 3, 4, 1000, 2047];
  const rp = restorePointPerFile(dataBlocks);
  let snapshotId: string | undefined;

  beforeAll(async () => {
    ({ aws, keyArn } = await accountWithKey());
  });

  it(
    'writes every block into a snapshot encrypted with the given key; the blocks read back equal the image',
    async () => {
      const progress: number[] = [];
      const writer = ebsDirectWriter(rp, aws, { inFlight: 16, completionPollMs: 100 });
      const restoreId = `r-${randomBytes(4).toString('hex')}`;
      const result = await writer.writeVolume({
        restorePointId: rp.restorePointId,
        deviceName: '/dev/xvda',
        target: { restoreId, kmsKeyArn: keyArn, tags: { Team: 'infra' } },
        onProgress: (bytes) => progress.push(bytes),
      });
      expect(result).toMatchObject({ kmsKeyId: keyArn, sizeGiB: 1, bytesWritten: GIB, blocksWritten: 2048 });
      expect(progress.at(-1)).toBe(GIB);
      expect(progress).toHaveLength(2048);

      const described = await aws.ec2.send(
        new DescribeSnapshotsCommand({ SnapshotIds: [result.snapshotId] }),
      );
      const snapshot = described.Snapshots?.[0];
      expect(snapshot).toMatchObject({
        State: 'completed',
        Encrypted: true,
        KmsKeyId: keyArn,
        VolumeSize: 1,
      });
      expect(snapshot?.Tags).toEqual(
        expect.arrayContaining([
          { Key: RestoreTag.RestoreId, Value: restoreId },
          { Key: RestoreTag.Step, Value: 'snapshot' },
          { Key: RestoreTag.Device, Value: '/dev/xvda' },
          { Key: 'Team', Value: 'infra' },
        ]),
      );

      // Every block, zero blocks included, reads back byte for byte as in the image.
      const listed = await aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: result.snapshotId }));
      expect(listed.BlockSize).toBe(BLOCK_SIZE);
      const blocks = listed.Blocks ?? [];
      expect(blocks.map((b) => b.BlockIndex)).toEqual(Array.from({ length: 2048 }, (_, i) => i));
      const imageHash = createHash('sha256');
      const snapshotHash = createHash('sha256');
      const readBack = new Map<number, Buffer>();
      await runPool(blocks, 32, async (block) => {
        const out = await aws.ebs.send(
          new GetSnapshotBlockCommand({
            SnapshotId: result.snapshotId,
            BlockIndex: block.BlockIndex,
            BlockToken: block.BlockToken,
          }),
        );
        readBack.set(
          block.BlockIndex!,
          createHash('sha256')
            .update(await out.BlockData!.transformToByteArray())
            .digest(),
        );
      });
      for (let index = 0; index < 2048; index++) {
        const expected = await blockOfFile(rp.imagePath, index);
        imageHash.update(createHash('sha256').update(expected).digest());
        snapshotHash.update(readBack.get(index) ?? Buffer.alloc(0));
        if (dataBlocks.includes(index))
          expect(readBack.get(index)).toEqual(createHash('sha256').update(expected).digest());
      }
      expect(snapshotHash.digest('hex')).toBe(imageHash.digest('hex'));

      snapshotId = result.snapshotId;
    },
    SLOW,
  );

  it('a corrupted block in the repository fails the restore with the block named', async () => {
    // An early block, so the restore reaches it after a few writes.
    const expected = sha256Hex(await blockOfFile(rp.imagePath, 3));
    const store = (rp.repository as unknown as { store: { put(k: string, b: Buffer): Promise<void> } }).store;
    const original = await blockOfFile(rp.imagePath, 3);
    const corrupt = Buffer.from(original);
    corrupt[0] = (corrupt[0] ?? 0) ^ 1;
    await store.put(blockKey(expected), corrupt);
    try {
      const error = await writeRootVolume(rp, aws, keyArn, { inFlight: 8 }).catch((e: unknown) => e);
      expectBlockIntegrityError(error, rp.restorePointId, 3, expected);
      expect((error as Error).message).toMatch(
        new RegExp(
          `Restore point '${rp.restorePointId}', volume /dev/xvda, block 3 \\(expected SHA-256 ${expected}\\)`,
        ),
      );
    } finally {
      await store.put(blockKey(expected), original);
    }
  });

  it(
    'read-back verification names exactly the blocks that differ from another restore point',
    async () => {
      expect(snapshotId, 'needs the snapshot of the first test').toBeDefined();
      const verify = (id: string) =>
        verifySnapshotAgainstRestorePoint({
          ebs: aws.ebs,
          repository: rp.repository,
          restorePointId: id,
          deviceName: '/dev/xvda',
          snapshotId: snapshotId!,
        });
      // (The first test already proved the snapshot equals the image; one read-back here keeps the suite short.)

      const otherImage = await sparseImage(join(rp.work.path, 'other.img'), GIB, [{ index: 3 }]);
      const builder = rp.repository.createRestorePoint({
        source: { kind: 'raw-images' },
        instance: INSTANCE,
      });
      await builder.addVolume(
        { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3' },
        readRawImage(otherImage),
      );
      const other = await builder.commit();
      const verification = await verify(other.id);
      expect(verification.ok).toBe(false);
      expect(verification.mismatchCount).toBe(dataBlocks.length);
      // Ascending by block index, whatever order the concurrent reads finished in.
      expect(verification.mismatches.map((m) => m.blockIndex)).toEqual([0, 3, 4, 1000, 2047]);
      // Block 3 holds other data in each restore point; the others are zeros in `other`.
      const zeroHash = sha256Hex(Buffer.alloc(BLOCK_SIZE));
      for (const m of verification.mismatches) {
        expect(m.actualSha256).toBe(sha256Hex(await blockOfFile(rp.imagePath, m.blockIndex)));
        if (m.blockIndex !== 3) expect(m.expectedSha256).toBe(zeroHash);
      }
    },
    SLOW,
  );
});

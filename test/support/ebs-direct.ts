/** The EBS direct data plane as tests call it: one block written, one block read back. */
import { createHash, randomBytes } from 'node:crypto';
import {
  CompleteSnapshotCommand,
  type EBSClient,
  GetSnapshotBlockCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
  type StartSnapshotCommandInput,
} from '@aws-sdk/client-ebs';
import { DescribeSnapshotsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { AwsClients } from '@ec2-restore/aws-clients';
import type { BackupRepository } from '@ec2-restore/backup-repository';
import { onceVisible } from '@ec2-restore/local-aws';
import { EbsDirectWriter, type RetryPolicy } from '@ec2-restore/snapshot-writers';
import { eventually } from './expect-aws.ts';

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

/**
 * StartSnapshot, then waits until the EBS direct data plane knows the new snapshot: like AWS, the
 * emulator answers "does not exist" for a moment after StartSnapshot (test/emulator/eventual-consistency.test.ts).
 */
export async function startVisibleSnapshot(
  ebs: EBSClient,
  input: StartSnapshotCommandInput,
): Promise<string> {
  const { SnapshotId } = await ebs.send(new StartSnapshotCommand(input));
  await untilSnapshotVisible(ebs, SnapshotId!);
  return SnapshotId!;
}

/**
 * Waits (bounded) until the EBS direct data plane knows a snapshot StartSnapshot just made. A snapshot
 * being written cannot be read (ValidationException, test/emulator/ebs-direct.test.ts): that refusal,
 * unlike ResourceNotFoundException, means EBS knows it.
 */
export async function untilSnapshotVisible(ebs: EBSClient, snapshotId: string): Promise<void> {
  await onceVisible(() =>
    ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId })).catch((error: Error) => {
      if (error.name !== 'ValidationException') throw error;
    }),
  );
}

/** The EBS direct writer of a one-volume restore point, with `aws`'s clients, `inFlight` blocks at once. */
export function ebsDirectWriter(
  rp: { repository: BackupRepository },
  aws: AwsClients,
  options: { inFlight: number; completionPollMs?: number; retryPolicy?: RetryPolicy; putsPerSecond?: number },
): EbsDirectWriter {
  return new EbsDirectWriter({ repository: rp.repository, ebs: aws.ebs, ec2: aws.ec2, ...options });
}

/** A write target of a restore of its own (a random restore id), encrypted with `kmsKeyArn`. */
export function writeTarget(kmsKeyArn: string): { restoreId: string; kmsKeyArn: string } {
  return { restoreId: `r-${randomBytes(4).toString('hex')}`, kmsKeyArn };
}

/**
 * Writes the restore point's /dev/xvda to a new snapshot encrypted with `kmsKeyArn`, as a restore of
 * its own, `inFlight` blocks at once.
 */
export function writeRootVolume(
  rp: { repository: BackupRepository; restorePointId: string },
  aws: AwsClients,
  kmsKeyArn: string,
  options: {
    inFlight: number;
    completionPollMs?: number;
    signal?: AbortSignal;
    onProgress?: (bytesWritten: number) => void;
  },
) {
  const { signal, onProgress, ...writerOptions } = options;
  return ebsDirectWriter(rp, aws, writerOptions).writeVolume({
    restorePointId: rp.restorePointId,
    deviceName: '/dev/xvda',
    target: writeTarget(kmsKeyArn),
    ...(signal ? { signal } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
}

/**
 * CompleteSnapshot with `changedBlocksCount`, then waits until the snapshot is completed: EBS direct
 * reads a snapshot only then (test/emulator/ebs-direct.test.ts).
 */
export async function completeSnapshot(
  aws: Pick<AwsClients, 'ebs' | 'ec2'>,
  snapshotId: string,
  changedBlocksCount: number,
): Promise<void> {
  await aws.ebs.send(
    new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: changedBlocksCount }),
  );
  await untilSnapshotCompleted(aws.ec2, snapshotId);
}

/** Waits (bounded) until EC2 reports the snapshot `completed` (it is `pending` a while after CompleteSnapshot). */
export async function untilSnapshotCompleted(ec2: EC2Client, snapshotId: string): Promise<void> {
  await eventually(async () => {
    // EC2 may not know a snapshot StartSnapshot made yet (InvalidSnapshot.NotFound for a moment).
    const { Snapshots = [] } = await onceVisible(() =>
      ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
    );
    return Snapshots[0]?.State === 'completed' ? true : undefined;
  });
}

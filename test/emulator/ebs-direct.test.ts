import { createHash } from 'node:crypto';
import {
  CompleteSnapshotCommand,
  type EBSClient,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import {
  CopySnapshotCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EnableEbsEncryptionByDefaultCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  blockChecksum,
  completeSnapshot,
  createKey,
  eventually,
  expectAwsError,
  keyPolicy,
  launchInstance,
  newAccount,
  putBlock,
  REGION,
  readBlock,
  startVisibleSnapshot,
  untilSnapshotCompleted,
  untilSnapshotVisible,
  volumeInState,
  ZONE,
} from '../support/index.ts';
import { emulatorPerBlock } from '../support/own-emulator.ts';

const BLOCK_SIZE = 524288;

/**
 * ListSnapshotBlocks, GetSnapshotBlock and ListChangedBlocks of a snapshot that is not `completed`:
 * each refused with a ValidationException naming the snapshot and its state (HTTP 400).
 */
async function expectNotReadable(ebs: EBSClient, snapshotId: string, state: string) {
  const refused = new RegExp(
    `'${snapshotId}' is ${state}: the EBS direct APIs read only completed snapshots`,
  );
  const reads = [
    () => ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId })),
    () =>
      ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: 0, BlockToken: 'AAAA' })),
    () =>
      ebs.send(new ListChangedBlocksCommand({ FirstSnapshotId: snapshotId, SecondSnapshotId: snapshotId })),
  ];
  for (const read of reads) {
    const error = await expectAwsError(read(), 'ValidationException', refused);
    expect(error).toMatchObject({ Reason: 'INVALID_SNAPSHOT_ID', $metadata: { httpStatusCode: 400 } });
  }
}

/** EC2's view of a snapshot (once EC2 knows its id: a new one answers InvalidSnapshot.NotFound for a moment). */
async function snapshotState(account: Account, snapshotId: string) {
  const out = await onceVisible(() =>
    account.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
  );
  return out.Snapshots![0]!;
}

describe('EBS direct APIs', () => {
  it('StartSnapshot honours Encrypted + KmsKeyArn, 512 KiB blocks, pending until CompleteSnapshot, no phantom volume', async () => {
    const account = newAccount();
    const key = await createKey(account);
    const volumesBefore = (await account.aws.ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;

    const started = await account.aws.ebs.send(
      new StartSnapshotCommand({
        VolumeSize: 1,
        Encrypted: true,
        KmsKeyArn: key.Arn!,
        Description: 'contract',
      }),
    );
    expect(started).toMatchObject({
      BlockSize: BLOCK_SIZE,
      Status: 'pending',
      KmsKeyArn: key.Arn,
      VolumeSize: 1,
    });
    const snapshotId = started.SnapshotId!;
    await untilSnapshotVisible(account.aws.ebs, snapshotId);
    expect(await snapshotState(account, snapshotId)).toMatchObject({
      State: 'pending',
      Encrypted: true,
      KmsKeyId: key.Arn,
    });

    const blocks = [Buffer.alloc(BLOCK_SIZE, 1), Buffer.alloc(BLOCK_SIZE, 0)];
    const put = await putBlock(account.aws.ebs, snapshotId, 0, blocks[0]!);
    expect(put.Checksum).toBe(blockChecksum(blocks[0]!));
    await putBlock(account.aws.ebs, snapshotId, 3, blocks[1]!);
    await expectAwsError(
      putBlock(account.aws.ebs, snapshotId, 5, blocks[0]!, blockChecksum(blocks[1]!)),
      'ValidationException',
    );

    // Not readable while pending (reads: 'EBS direct reads need a completed snapshot' below).
    await expectNotReadable(account.aws.ebs, snapshotId, 'pending');

    // Aggregated checksum, LINEAR: SHA-256 over the blocks' checksums in index order.
    const aggregate = createHash('sha256')
      .update(Buffer.concat(blocks.map((b) => Buffer.from(blockChecksum(b), 'base64'))))
      .digest('base64');
    await account.aws.ebs.send(
      new CompleteSnapshotCommand({
        SnapshotId: snapshotId,
        ChangedBlocksCount: 2,
        Checksum: aggregate,
        ChecksumAlgorithm: 'SHA256',
        ChecksumAggregationMethod: 'LINEAR',
      }),
    );
    // Completed a moment after CompleteSnapshot (EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS, 300 by default;
    // the pending moment itself: test/pipeline/completion-wait-and-zones.test.ts).
    await eventually(async () =>
      (await snapshotState(account, snapshotId)).State === 'completed' ? true : undefined,
    );
    const listed = await account.aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
    expect(listed.BlockSize).toBe(BLOCK_SIZE);
    expect(listed.Blocks!.map((b) => b.BlockIndex)).toEqual([0, 3]);
    const read = await readBlock(account.aws.ebs, snapshotId, 0);
    expect(read.checksum).toBe(blockChecksum(blocks[0]!));
    expect(read.data.equals(blocks[0]!)).toBe(true);
    const volumesAfter = (await account.aws.ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;
    expect(volumesAfter).toBe(volumesBefore);
  });

  it('StartSnapshot encrypts with the EBS default key when encryption by default is on', async () => {
    const account = newAccount();
    const key = await createKey(account);
    await account.aws.ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
    await account.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: key.Arn! }));
    const started = await account.aws.ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    expect(started.KmsKeyArn).toBe(key.Arn);
    expect(await snapshotState(account, started.SnapshotId!)).toMatchObject({
      Encrypted: true,
      KmsKeyId: key.Arn,
    });
  });

  it('StartSnapshot with a key the caller may not use: AccessDeniedException', async () => {
    const account = newAccount();
    const other = newAccount();
    const key = await createKey(
      account,
      keyPolicy({ Effect: 'Allow', Principal: { AWS: other.rootArn }, Action: 'kms:*' }), // not the caller's account
    );
    await expectAwsError(
      account.aws.ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: key.Arn! })),
      'AccessDeniedException',
    );
  });
});

/** How long this block's emulator keeps a snapshot `pending` after CompleteSnapshot: ample for the reads below. */
const COMPLETING_MS = 4000;

describe('EBS direct reads need a completed snapshot', () => {
  // "Can a snapshot be accessed using the EBS direct APIs if it has a pending status? No. The snapshot can
  // be accessed only if it has a completed status." (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html)
  const account = emulatorPerBlock({ EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS: String(COMPLETING_MS) });

  it('refused while being written and while completing; read once DescribeSnapshots says completed', async () => {
    const owner = account();
    const { aws } = owner;
    const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    const data = Buffer.alloc(BLOCK_SIZE, 7);
    await putBlock(aws.ebs, snapshotId, 1, data);
    await expectNotReadable(aws.ebs, snapshotId, 'pending');

    const completedAt = Date.now() + COMPLETING_MS;
    await aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: 1 }));
    // Sealed, but EBS has not finished: EC2 says pending and the reads are still refused.
    await expectNotReadable(aws.ebs, snapshotId, 'pending');
    expect((await snapshotState(owner, snapshotId)).State).toBe('pending');
    expect(Date.now(), 'the checks above ran inside the completing window').toBeLessThan(completedAt);

    await eventually(async () =>
      (await snapshotState(owner, snapshotId)).State === 'completed' ? true : undefined,
    );
    const read = await readBlock(aws.ebs, snapshotId, 1);
    expect(read.data.equals(data)).toBe(true);
    const changed = await aws.ebs.send(
      new ListChangedBlocksCommand({ FirstSnapshotId: snapshotId, SecondSnapshotId: snapshotId }),
    );
    expect(changed.ChangedBlocks).toEqual([]);
  });

  it('a snapshot CreateSnapshot or CopySnapshot makes is pending, unreadable, then completed', async () => {
    // "the status of the snapshot is pending until the snapshot is complete"
    // (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshot.html); "Encrypted Amazon EBS
    // snapshots are copied asynchronously" (StateMessage, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html).
    const owner = account();
    const { VolumeId } = await owner.aws.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }),
    );
    await volumeInState(owner, VolumeId!);
    const completedBy = Date.now() + COMPLETING_MS;
    const taken = await owner.aws.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    expect(taken.State, 'CreateSnapshot answers pending').toBe('pending');
    expect((await snapshotState(owner, taken.SnapshotId!)).State).toBe('pending');
    await expectNotReadable(owner.aws.ebs, taken.SnapshotId!, 'pending');
    expect(Date.now(), 'the checks above ran inside the pending window').toBeLessThan(completedBy);
    await untilSnapshotCompleted(owner.aws.ec2, taken.SnapshotId!);

    const { SnapshotId: copy } = await owner.aws.ec2.send(
      new CopySnapshotCommand({ SourceSnapshotId: taken.SnapshotId, SourceRegion: REGION }),
    );
    expect((await snapshotState(owner, copy!)).State).toBe('pending');
    await expectNotReadable(owner.aws.ebs, copy!, 'pending');
    await untilSnapshotCompleted(owner.aws.ec2, copy!);
    expect(await owner.aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: copy }))).toMatchObject({
      Blocks: [],
      VolumeSize: 1,
    });
  });
});

describe('EBS direct reads snapshots EC2 took', () => {
  // "You can use the EBS direct APIs to ... read data on your snapshots"
  // (https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html), whatever made them; a snapshot of a
  // volume holds the volume's data, and a volume created from a snapshot starts with the snapshot's data
  // (https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html). ListSnapshotBlocks lists the
  // blocks that hold data (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html).

  /** Every block ListSnapshotBlocks lists, read with GetSnapshotBlock. */
  async function readAll(account: Account, snapshotId: string): Promise<Map<number, Buffer>> {
    const { Blocks = [] } = await account.aws.ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }),
    );
    const read = new Map<number, Buffer>();
    for (const { BlockIndex } of Blocks)
      read.set(BlockIndex!, (await readBlock(account.aws.ebs, snapshotId, BlockIndex!)).data);
    return read;
  }

  /** CreateSnapshot of a volume, once EC2 reports the snapshot completed. */
  async function takeSnapshot(account: Account, volumeId: string): Promise<string> {
    const { SnapshotId } = await account.aws.ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    await untilSnapshotCompleted(account.aws.ec2, SnapshotId!);
    return SnapshotId!;
  }

  it("a snapshot of an instance's root volume holds the data of the image's snapshot, and so does its copy", async () => {
    const account = newAccount();
    const data = new Map([
      [0, Buffer.alloc(BLOCK_SIZE, 3)],
      [9, Buffer.alloc(BLOCK_SIZE, 4)],
    ]);
    const written = await startVisibleSnapshot(account.aws.ebs, { VolumeSize: 1 });
    for (const [index, block] of data) await putBlock(account.aws.ebs, written, index, block);
    await completeSnapshot(account.aws, written, data.size);
    const { ImageId } = await onceVisible(() =>
      account.aws.ec2.send(
        new RegisterImageCommand({
          Name: `ebs-direct-read-${account.id}`,
          Architecture: 'x86_64',
          EnaSupport: true,
          VirtualizationType: 'hvm',
          RootDeviceName: '/dev/xvda',
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: written, VolumeSize: 2 } }],
        }),
      ),
    );
    // A launch that names the root device keeps the image's snapshot and size for it (as the product's
    // launch does, to choose the key).
    const instanceId = await launchInstance(account, undefined, {
      ImageId,
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true } }],
    });
    const { Reservations = [] } = await account.aws.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
    );
    const mappings = Reservations[0]!.Instances![0]!.BlockDeviceMappings!;
    const rootVolume = mappings.find((m) => m.DeviceName === '/dev/xvda')!.Ebs!.VolumeId!;

    const taken = await takeSnapshot(account, rootVolume);
    const listed = await account.aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: taken }));
    expect(listed).toMatchObject({ VolumeSize: 2, BlockSize: BLOCK_SIZE });
    expect(await readAll(account, taken)).toEqual(data);

    // CopySnapshot holds the same data, and keeps it when the snapshot it copied is deleted.
    const { SnapshotId: copy } = await account.aws.ec2.send(
      new CopySnapshotCommand({ SourceSnapshotId: taken, SourceRegion: REGION }),
    );
    await untilSnapshotCompleted(account.aws.ec2, copy!);
    await account.aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: taken }));
    expect(await readAll(account, copy!)).toEqual(data);
  });

  it('a snapshot of a volume created empty has no blocks; one of a volume from a snapshot outlives both', async () => {
    const account = newAccount();
    const { VolumeId: empty } = await account.aws.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }),
    );
    await volumeInState(account, empty!);
    const blank = await takeSnapshot(account, empty!);
    expect(await account.aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: blank }))).toMatchObject({
      Blocks: [],
      VolumeSize: 1,
      BlockSize: BLOCK_SIZE,
    });

    const block = Buffer.alloc(BLOCK_SIZE, 5);
    const written = await startVisibleSnapshot(account.aws.ebs, { VolumeSize: 1 });
    await putBlock(account.aws.ebs, written, 4, block);
    await completeSnapshot(account.aws, written, 1);
    const { VolumeId } = await onceVisible(() =>
      account.aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, SnapshotId: written })),
    );
    await volumeInState(account, VolumeId!);
    await account.aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: written }));
    const taken = await takeSnapshot(account, VolumeId!);
    await account.aws.ec2.send(new DeleteVolumeCommand({ VolumeId }));
    expect(await readAll(account, taken)).toEqual(new Map([[4, block]]));
  });
});

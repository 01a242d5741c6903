import {
  CopySnapshotCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { onceVisible } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import { untilSnapshotCompleted } from '../support/ebs-direct.ts';
import {
  type Account,
  createKey,
  expectAwsError,
  keyUsableBy,
  newAccount,
  shareSnapshot,
  ZONE,
} from '../support/index.ts';

/** An encrypted snapshot in `owner` with a customer managed key whose policy lets `reader` use it. */
async function sharedKeySnapshot(owner: Account, reader: Account) {
  const keyArn = await keyUsableBy(owner, reader.rootArn);
  const volume = await owner.aws.ec2.send(
    new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 2, Encrypted: true, KmsKeyId: keyArn }),
  );
  // New ids answer NotFound for a moment (eventual-consistency.test.ts): wait until the owner sees both.
  const snapshot = await onceVisible(() =>
    owner.aws.ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId! })),
  );
  await onceVisible(() =>
    owner.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] })),
  );
  return { keyArn, snapshotId: snapshot.SnapshotId! };
}

/** Shares with `reader` and waits until the share shows there (a new share takes a moment). */
async function shareVisible(owner: Account, snapshotId: string, reader: Account) {
  await shareSnapshot(owner, snapshotId, reader.id);
  await onceVisible(() => reader.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })));
}

describe('sharing a snapshot encrypted with an AWS managed key', () => {
  it('is refused: OperationNotPermitted "Encrypted snapshots with EBS default key cannot be shared"', async () => {
    const owner = newAccount();
    const target = newAccount();
    const volume = await owner.aws.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1, Encrypted: true }), // default key: aws/ebs
    );
    const snapshot = await onceVisible(() =>
      owner.aws.ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId! })),
    );
    const error = await expectAwsError(
      shareSnapshot(owner, snapshot.SnapshotId!, target.id),
      'OperationNotPermitted',
      'Encrypted snapshots with EBS default key cannot be shared',
    );
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });
});

describe('a snapshot shared with another account', () => {
  it('is visible to that account by id, RestorableByUserIds and OwnerIds', async () => {
    const owner = newAccount();
    const target = newAccount();
    const { snapshotId } = await sharedKeySnapshot(owner, target);
    await shareVisible(owner, snapshotId, target);

    const byId = await target.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(byId.Snapshots!.map((s) => [s.SnapshotId, s.OwnerId])).toEqual([[snapshotId, owner.id]]);
    const restorable = await target.aws.ec2.send(
      new DescribeSnapshotsCommand({ RestorableByUserIds: ['self'] }),
    );
    expect(restorable.Snapshots!.map((s) => s.SnapshotId)).toContain(snapshotId);
    const byOwner = await target.aws.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: [owner.id] }));
    expect(byOwner.Snapshots!.map((s) => s.SnapshotId)).toEqual([snapshotId]);
    const own = await target.aws.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    expect(own.Snapshots!.map((s) => s.SnapshotId)).not.toContain(snapshotId);
  });

  it('gives a volume re-encrypted with the target account key, and copies with KmsKeyId', async () => {
    const owner = newAccount();
    const target = newAccount();
    const { snapshotId } = await sharedKeySnapshot(owner, target);
    await shareVisible(owner, snapshotId, target);
    const targetKey = await createKey(target);

    const volume = await target.aws.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: ZONE,
        SnapshotId: snapshotId,
        KmsKeyId: targetKey.Arn!,
        Encrypted: true,
      }),
    );
    expect(volume.KmsKeyId).toBe(targetKey.Arn);
    expect(volume.Size).toBe(2);
    // Still there once EBS has checked the keys (an unusable key would make it disappear).
    await new Promise((r) => setTimeout(r, 2_500));
    const described = await target.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }),
    );
    expect(described.Volumes![0]!.State).toBe('available');

    const copy = await target.aws.ec2.send(
      new CopySnapshotCommand({
        SourceSnapshotId: snapshotId,
        SourceRegion: 'eu-west-1',
        Encrypted: true,
        KmsKeyId: targetKey.Arn!,
      }),
    );
    // A copy is `pending` for a while (copied asynchronously), then `completed`.
    await untilSnapshotCompleted(target.aws.ec2, copy.SnapshotId!);
    const copied = await target.aws.ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [copy.SnapshotId!] }),
    );
    expect(copied.Snapshots![0]).toMatchObject({
      OwnerId: target.id,
      KmsKeyId: targetKey.Arn,
      State: 'completed',
    });
  });

  it('stays invisible when not shared, or unshared again: InvalidSnapshot.NotFound', async () => {
    const owner = newAccount();
    const target = newAccount();
    const { snapshotId } = await sharedKeySnapshot(owner, target);
    const notFound = `The snapshot '${snapshotId}' does not exist.`;
    await expectAwsError(
      target.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
      'InvalidSnapshot.NotFound',
      notFound,
    );
    await shareVisible(owner, snapshotId, target);
    await shareSnapshot(owner, snapshotId, target.id, 'Remove');
    await expectAwsError(
      target.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
      'InvalidSnapshot.NotFound',
      notFound,
    );
    await expectAwsError(
      target.aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, SnapshotId: snapshotId })),
      'InvalidSnapshot.NotFound',
      notFound,
    );
  });

  it('cannot be deleted or re-shared by the account it is shared with', async () => {
    const owner = newAccount();
    const target = newAccount();
    const third = newAccount();
    const { snapshotId } = await sharedKeySnapshot(owner, target);
    await shareVisible(owner, snapshotId, target);
    await expectAwsError(
      target.aws.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })),
      'UnauthorizedOperation',
    );
    await expectAwsError(shareSnapshot(target, snapshotId, third.id), 'UnauthorizedOperation');
    // The owner still has it.
    const mine = await owner.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(mine.Snapshots).toHaveLength(1);
  });
});

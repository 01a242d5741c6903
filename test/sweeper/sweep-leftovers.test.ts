/**
 * The sweep against the emulator and a real Redis: leftovers of a failed restore in the source and
 * target accounts are removed (the shared snapshot unshared first; the register-image strategy's
 * temporary image before the root snapshot copy it names), while untagged resources, the resources of
 * a running restore and the restored volumes are kept.
 */
import { randomUUID } from 'node:crypto';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { IMAGE_STEP, RestoreTag } from '@ec2-restore/contracts';
import { credentialsForAccount, onceVisible } from '@ec2-restore/local-aws';
import { SOURCE_VOLUME_TAG } from '@ec2-restore/pipeline';
import { RestoreStore } from '@ec2-restore/restore-state';
import { startPeriodicSweep, sweepLeftovers } from '@ec2-restore/sweeper';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  createRestoreRole,
  defaultSubnet,
  launchInstance,
  newAccount,
  REGION,
  shareSnapshot,
  startVisibleSnapshot,
  volumeInState,
} from '../support/index.ts';

const redis = new Redis(process.env.REDIS_URL as string);
const prefix = `test-sweeper-${randomUUID()}:`;
const store = new RestoreStore(redis, { prefix });

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function restoreTags(restoreId: string, step: string): Tag[] {
  return [
    { Key: RestoreTag.RestoreId, Value: restoreId },
    { Key: RestoreTag.Step, Value: step },
  ];
}

/** Tags of a snapshot the worker-volume path made of its temporary volume (it names the volume). */
function stepSnapshotTags(restoreId: string, volumeId: string): Tag[] {
  return [...restoreTags(restoreId, 'snapshot'), { Key: SOURCE_VOLUME_TAG, Value: volumeId }];
}

async function createVolume(account: Account, tags: Tag[]): Promise<string> {
  const { zone } = await defaultSubnet(account);
  const { VolumeId } = await account.aws.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: zone,
      Size: 1,
      VolumeType: 'gp3',
      ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'volume', Tags: tags }] } : {}),
    }),
  );
  return VolumeId ?? '';
}

async function volumeExists(account: Account, volumeId: string): Promise<boolean> {
  try {
    const { Volumes = [] } = await account.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [volumeId] }),
    );
    return Volumes.some((v) => v.State !== 'deleted' && v.State !== 'deleting');
  } catch (error) {
    if ((error as { name?: string }).name === 'InvalidVolume.NotFound') return false;
    throw error;
  }
}

async function snapshotsVisibleTo(account: Account, snapshotId: string, restorableBy: string) {
  const { Snapshots = [] } = await account.aws.ec2.send(
    new DescribeSnapshotsCommand({
      RestorableByUserIds: [restorableBy],
      Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }],
    }),
  );
  return Snapshots.map((s) => s.SnapshotId);
}

/**
 * What a restore killed during the register-image strategy leaves: the target-owned root snapshot
 * copy and the temporary image registered from it, both tagged by the instance-image step.
 */
async function imageLeftovers(account: Account, restoreId: string, volumeId: string) {
  const tags = restoreTags(restoreId, IMAGE_STEP);
  await volumeInState(account, volumeId);
  const { SnapshotId = '' } = await account.aws.ec2.send(
    new CreateSnapshotCommand({
      VolumeId: volumeId,
      TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }],
    }),
  );
  // New ids answer NotFound for a moment (the emulator is eventually consistent, as AWS).
  const { ImageId = '' } = await onceVisible(() =>
    account.aws.ec2.send(
      new RegisterImageCommand({
        Name: `ec2-restore-${restoreId}`,
        RootDeviceName: '/dev/xvda',
        VirtualizationType: 'hvm',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId } }],
        TagSpecifications: [{ ResourceType: 'image', Tags: tags }],
      }),
    ),
  );
  await onceVisible(() => account.aws.ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId] })));
  return { image: ImageId, rootCopy: SnapshotId };
}

async function imageExists(account: Account, imageId: string): Promise<boolean> {
  const { Images = [] } = await account.aws.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'image-id', Values: [imageId] }] }),
  );
  return Images.some((i) => i.State !== 'deregistered');
}

async function snapshotExists(account: Account, snapshotId: string): Promise<boolean> {
  const { Snapshots = [] } = await account.aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }],
    }),
  );
  return Snapshots.length > 0;
}

describe('sweepLeftovers', () => {
  const source = newAccount();
  const target = newAccount();
  const failedId = `sweep-failed-${randomUUID().slice(0, 8)}`;
  const runningId = `sweep-running-${randomUUID().slice(0, 8)}`;
  const externalId = `ext-${randomUUID().slice(0, 8)}`;
  const ids = {} as Record<
    | 'sourceWorkerVolume'
    | 'sourceAttachedWorkerVolume'
    | 'sharedSnapshot'
    | 'sharedWhileWriting'
    | 'targetLaunchRoot'
    | 'targetImage'
    | 'targetRootCopy'
    | 'targetRestoredVolume'
    | 'sourceUntagged'
    | 'targetUntagged'
    | 'runningVolume'
    | 'runningSnapshot'
    | 'runningImage',
    string
  >;
  /** The temporary resources of the finished restore, in both accounts: what the sweep removes. */
  const temporaryOfTheFinishedRestore = () =>
    [
      ids.sourceWorkerVolume,
      ids.sourceAttachedWorkerVolume,
      ids.sharedSnapshot,
      ids.sharedWhileWriting,
      ids.targetLaunchRoot,
      ids.targetImage,
      ids.targetRootCopy,
    ].sort();

  beforeAll(async () => {
    const roleArn = await createRestoreRole(target, source.id, externalId);
    // The failed restore names the target role in its request: the sweep learns the role from it.
    await store.create({
      id: failedId,
      mode: 'cross-account',
      request: { target: { accountId: target.id, region: REGION, roleArn, externalId, kmsKeyId: 'alias/x' } },
    });
    await store.fail(failedId, {
      code: 'WorkerCrashed',
      message: 'left resources behind',
      category: 'internal',
      step: 'snapshot',
      awsRequestId: null,
    });
    await store.create({ id: runningId, mode: 'same-account', request: {} });
    await store.startStep(runningId, 'snapshot');
    expect(await store.getStatus(failedId)).toBe('failed');
    expect(await store.getStatus(runningId)).toBe('running');

    // Source account: the failed restore's worker volumes (one still attached) and a shared snapshot.
    ids.sourceWorkerVolume = await createVolume(source, restoreTags(failedId, 'snapshot'));
    ids.sourceAttachedWorkerVolume = await createVolume(source, restoreTags(failedId, 'snapshot'));
    const workerInstance = await launchInstance(source);
    // AWS attaches only an `available` volume; a new one is `creating` for a moment.
    await volumeInState(source, ids.sourceAttachedWorkerVolume);
    await source.aws.ec2.send(
      new AttachVolumeCommand({
        VolumeId: ids.sourceAttachedWorkerVolume,
        InstanceId: workerInstance,
        Device: '/dev/sdf',
      }),
    );
    const { SnapshotId } = await source.aws.ec2.send(
      new CreateSnapshotCommand({
        VolumeId: ids.sourceWorkerVolume,
        TagSpecifications: [
          { ResourceType: 'snapshot', Tags: stepSnapshotTags(failedId, ids.sourceWorkerVolume) },
        ],
      }),
    );
    ids.sharedSnapshot = SnapshotId ?? '';
    // New ids answer NotFound for a moment (the emulator is eventually consistent, as AWS).
    await onceVisible(() =>
      source.aws.ec2.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId: ids.sharedSnapshot,
          Attribute: 'createVolumePermission',
          CreateVolumePermission: { Add: [{ UserId: target.id }] },
        }),
      ),
    );
    // An EBS direct snapshot still being written (`pending`, never completed) that the snapshot step
    // already shared with the target account, as it does while it writes the blocks.
    ids.sharedWhileWriting = await startVisibleSnapshot(source.aws.ebs, {
      VolumeSize: 1,
      Tags: [...restoreTags(failedId, 'snapshot'), { Key: RestoreTag.Device, Value: '/dev/xvdb' }],
      // The snapshot step's description (isStepSnapshot: a copy by another tool lacks it).
      Description: `ec2-restore ${failedId} /dev/xvdb`,
    });
    await shareSnapshot(source, ids.sharedWhileWriting, target.id);
    // Target account: the launch root volume (temporary) and a restored volume (what the user gets).
    ids.targetLaunchRoot = await createVolume(target, restoreTags(failedId, 'instance-launch-root'));
    ids.targetRestoredVolume = await createVolume(target, restoreTags(failedId, 'instance'));
    // Not the product's, and the product's but of a restore still running.
    ids.sourceUntagged = await createVolume(source, [{ Key: 'Name', Value: 'someone else' }]);
    ids.targetUntagged = await createVolume(target, []);
    ids.runningVolume = await createVolume(source, restoreTags(runningId, 'snapshot'));
    const running = await onceVisible(() =>
      source.aws.ec2.send(
        new CreateSnapshotCommand({
          VolumeId: ids.runningVolume,
          TagSpecifications: [
            { ResourceType: 'snapshot', Tags: stepSnapshotTags(runningId, ids.runningVolume) },
          ],
        }),
      ),
    );
    ids.runningSnapshot = running.SnapshotId ?? '';
    const failedImage = await imageLeftovers(target, failedId, ids.targetUntagged);
    ids.targetImage = failedImage.image;
    ids.targetRootCopy = failedImage.rootCopy;
    ids.runningImage = (await imageLeftovers(source, runningId, ids.sourceUntagged)).image;
  });

  const sweep = (overrides: { minAgeMinutes: number; dryRun: boolean }) =>
    sweepLeftovers({
      store,
      source: { region: REGION, credentials: credentialsForAccount(source.id) },
      targets: [],
      detachTimeoutMs: 10_000,
      ...overrides,
    });

  it('removes nothing in a dry run or while the leftovers are younger than the minimum age', async () => {
    const young = await sweep({ minAgeMinutes: 60, dryRun: false });
    expect(young.locationErrors).toEqual([]);
    expect(young.removed).toEqual([]);
    expect(
      young.skipped
        .filter((s) => s.reason === 'too-young')
        .map((s) => s.resource.id)
        .sort(),
    ).toEqual(temporaryOfTheFinishedRestore());

    const dry = await sweep({ minAgeMinutes: 0, dryRun: true });
    expect(dry.planned.map((p) => p.resource.id).sort()).toEqual(temporaryOfTheFinishedRestore());
    expect(dry.removed).toEqual([]);
    expect(await volumeExists(source, ids.sourceWorkerVolume)).toBe(true);
    expect(await snapshotsVisibleTo(target, ids.sharedSnapshot, 'self')).toEqual([ids.sharedSnapshot]);
  });

  it('removes the finished restore temporary resources in both accounts and keeps everything else', async () => {
    const report = await sweep({ minAgeMinutes: 0, dryRun: false });
    expect(report.locationErrors).toEqual([]);
    expect(report.failed).toEqual([]);
    // Both accounts were searched: the target through the role named by the stored restore.
    expect(report.scanned.map((s) => s.accountId).sort()).toEqual([source.id, target.id].sort());

    const removed = new Map(report.removed.map((r) => [r.resource.id, r]));
    expect([...removed.keys()].sort()).toEqual(temporaryOfTheFinishedRestore());
    expect(removed.get(ids.sharedSnapshot)?.unsharedFrom).toEqual([target.id]);
    expect(removed.get(ids.sharedWhileWriting)?.unsharedFrom).toEqual([target.id]);
    expect(removed.get(ids.sourceAttachedWorkerVolume)?.detached).toBe('normal');
    expect(removed.get(ids.targetLaunchRoot)?.resource.accountId).toBe(target.id);

    expect(await volumeExists(source, ids.sourceWorkerVolume)).toBe(false);
    expect(await volumeExists(source, ids.sourceAttachedWorkerVolume)).toBe(false);
    expect(await snapshotExists(source, ids.sharedSnapshot)).toBe(false);
    expect(await snapshotsVisibleTo(target, ids.sharedSnapshot, 'self')).toEqual([]);
    expect(await snapshotExists(source, ids.sharedWhileWriting)).toBe(false);
    expect(await snapshotsVisibleTo(target, ids.sharedWhileWriting, 'self')).toEqual([]);
    expect(await volumeExists(target, ids.targetLaunchRoot)).toBe(false);
    expect(await imageExists(target, ids.targetImage)).toBe(false);
    expect(await snapshotExists(target, ids.targetRootCopy)).toBe(false);

    // Kept: the restored volume, untagged volumes, and the running restore's volume and snapshot.
    expect(await volumeExists(target, ids.targetRestoredVolume)).toBe(true);
    expect(await volumeExists(source, ids.sourceUntagged)).toBe(true);
    expect(await volumeExists(target, ids.targetUntagged)).toBe(true);
    expect(await volumeExists(source, ids.runningVolume)).toBe(true);
    expect(await snapshotExists(source, ids.runningSnapshot)).toBe(true);
    expect(await imageExists(source, ids.runningImage)).toBe(true);
    const reasons = new Map(report.skipped.map((s) => [s.resource.id, s.reason]));
    expect(reasons.get(ids.targetRestoredVolume)).toBe('not-temporary');
    expect(reasons.get(ids.runningVolume)).toBe('restore-in-progress');
    expect(reasons.get(ids.runningSnapshot)).toBe('restore-in-progress');
    expect(reasons.get(ids.runningImage)).toBe('restore-in-progress');
    // Untagged resources are not even found: the search filters on the product's tag key.
    const found = new Set(report.found.map((r) => r.id));
    expect(found.has(ids.sourceUntagged) || found.has(ids.targetUntagged)).toBe(false);
  });

  it('runs periodically without overlapping and stops cleanly', async () => {
    const orphan = await createVolume(
      source,
      restoreTags(`sweep-unknown-${randomUUID().slice(0, 8)}`, 'snapshot'),
    );
    const logs: string[] = [];
    const log = (message: string) => logs.push(message);
    const reports: number[] = [];
    const stop = startPeriodicSweep({
      store,
      source: { region: REGION, credentials: credentialsForAccount(source.id) },
      targets: [],
      minAgeMinutes: 0,
      dryRun: false,
      // Shorter than any sweep (each makes several AWS calls), so ticks come during a sweep.
      intervalMs: 5,
      runImmediately: true,
      logger: { info: (_o, m) => log(m), warn: (_o, m) => log(m), error: (_o, m) => log(m) },
      onReport: (report) => reports.push(report.removed.length),
    });
    const deadline = Date.now() + 30_000;
    while (reports.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await stop();
    // A restore unknown to the store is swept; ticks during a sweep were skipped, not overlapped.
    expect(await volumeExists(source, orphan)).toBe(false);
    expect(reports[0]).toBeGreaterThanOrEqual(1);
    expect(logs).toContain('leftover sweep finished');
    expect(logs).toContain('leftover sweep still running; skipping this interval');
    const finishedBefore = reports.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(reports.length).toBe(finishedBefore);
  });
});

describe('sweepLeftovers in other regions', () => {
  it('searches the source account in every region a stored restore names', async () => {
    const source = newAccount();
    const otherRegion = 'us-east-1';
    const restoreId = `sweep-region-${randomUUID().slice(0, 8)}`;
    await store.create({
      id: restoreId,
      mode: 'same-account',
      request: { target: { accountId: source.id, region: otherRegion, kmsKeyId: 'alias/x' } },
    });
    await store.setStatus(restoreId, 'cancelled');
    const there = createAwsClients({ region: otherRegion, credentials: credentialsForAccount(source.id) });
    try {
      const { VolumeId } = await there.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: `${otherRegion}a`,
          Size: 1,
          TagSpecifications: [
            { ResourceType: 'volume', Tags: restoreTags(restoreId, 'instance-launch-root') },
          ],
        }),
      );
      // A leftover is older than a moment: visible by its id, as the sweep's DeleteVolume needs.
      await onceVisible(() => there.ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] })));
      const report = await sweepLeftovers({
        store,
        source: { region: REGION, credentials: credentialsForAccount(source.id) },
        targets: [],
        minAgeMinutes: 0,
        dryRun: false,
      });
      expect(report.scanned.map((s) => s.region)).toContain(otherRegion);
      expect(report.removed.map((r) => [r.resource.id, r.resource.region, r.restoreStatus])).toEqual([
        [VolumeId, otherRegion, 'cancelled'],
      ]);
      const { Volumes = [] } = await there.ec2
        .send(new DescribeVolumesCommand({ VolumeIds: [VolumeId ?? ''] }))
        .catch(() => ({ Volumes: [] }));
      expect(Volumes.filter((v) => v.State !== 'deleted')).toEqual([]);
    } finally {
      there.destroy();
    }
  });
});

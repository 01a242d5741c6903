import { CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import {
  CreateVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { JobName, jobIdFor, QueueName, RestoreTag } from '@ec2-restore/contracts';
import {
  credentialsForAccount,
  onceVisible,
  type RunningEmulator,
  randomAccountId,
} from '@ec2-restore/local-aws';
import {
  BLOCKS_WRITTEN_TAG,
  createStepClients,
  instanceProcessors,
  snapshotProcessors,
  startStepWorker,
} from '@ec2-restore/pipeline';
import type { Restore } from '@ec2-restore/restore-state';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  amazonImageId,
  type Backup,
  census,
  createBackup,
  createKey,
  expectAwsError,
  GIB,
  openPipeline,
  type Pipeline,
  putBlock,
  REGION,
  removeBackup,
  startRestore,
  startVisibleSnapshot,
  waitForEnd,
} from '../support/index.ts';
import { accountOn, startEmulatorWith } from '../support/own-emulator.ts';

/*
 * Two things a real AWS account does that a restore must live with, on an emulator of this file's own:
 * - an EBS direct snapshot stays `pending` for a while after CompleteSnapshot (here 3 s): the snapshot
 *   step hands that wait back to the queue as a delayed job instead of holding its worker slot;
 * - an account whose zones are not `<region>a` (zone names are mapped per account, zones can be
 *   impaired): the product takes the zone from DescribeAvailabilityZones.
 */

const COMPLETING_MS = 3000;
/** Account whose eu-west-1 has no `eu-west-1a`: zone b impaired, zone c available (other ids than moto's). */
const ZONED_ACCOUNT = randomAccountId();
const ACCOUNT_ZONES = {
  [ZONED_ACCOUNT]: {
    [REGION]: [
      { ZoneName: `${REGION}b`, ZoneId: 'euw1-az3', State: 'impaired' },
      { ZoneName: `${REGION}c`, ZoneId: 'euw1-az1', State: 'available' },
    ],
  },
};

describe('waits and zones of a real account', { timeout: 180_000 }, () => {
  let emulator: RunningEmulator;
  let backup: Backup;
  beforeAll(async () => {
    [emulator, backup] = await Promise.all([
      startEmulatorWith({
        EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS: String(COMPLETING_MS),
        EC2RESTORE_EMULATOR_ACCOUNT_ZONES: JSON.stringify(ACCOUNT_ZONES),
      }),
      createBackup(['/dev/xvda', '/dev/xvdb']),
    ]);
  }, 120_000);
  afterAll(async () => {
    await emulator?.stop();
    await removeBackup(backup);
  });

  /**
   * The snapshot and instance queues' workers of the product, in this process (one job at a time
   * each), with the account's root credentials, on `pipeline`'s Redis prefixes.
   */
  function startWorkers(pipeline: Pipeline, account: Account, completionWaitMs: number) {
    const clients = createStepClients({
      endpoint: emulator.endpoint,
      credentials: credentialsForAccount(account.id),
    });
    const common = {
      connection: pipeline.redis,
      store: pipeline.store,
      clients,
      prefix: pipeline.queuePrefix,
    };
    const repository = openBackupRepository(backup.repositoryPath);
    const workers = [
      startStepWorker({
        ...common,
        queue: QueueName.Snapshot,
        processors: snapshotProcessors({ repository, completionWaitMs }),
      }),
      startStepWorker({ ...common, queue: QueueName.Instance, processors: instanceProcessors() }),
    ];
    return async () => {
      await Promise.all(workers.map((w) => w.close()));
      clients.destroy();
    };
  }

  async function restoreVolumes(account: Account, devices: string[], completionWaitMs = 30_000) {
    const pipeline = openPipeline();
    const targetKey = (await createKey(account)).Arn;
    const stopWorkers = startWorkers(pipeline, account, completionWaitMs);
    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: account.id, region: REGION, kmsKeyId: targetKey },
        volumes: devices,
        verify: true,
      },
      { restorePoint: backup.restorePoint, sourceAccountId: account.id },
    );
    return {
      id,
      pipeline,
      targetKey,
      /** Waits for the restore's end; `beforeClose` runs after it, while the pipeline's Redis is still open. */
      async end(beforeClose?: () => Promise<void>): Promise<Restore> {
        try {
          return await waitForEnd(pipeline.store, id, 150_000);
        } finally {
          await beforeClose?.();
          await stopWorkers();
          await pipeline.close();
        }
      },
    };
  }

  /** The restore's step snapshot of `device`, as DescribeSnapshots shows it now. */
  async function stepSnapshot(
    account: Account,
    restoreId: string,
    device: string,
  ): Promise<Snapshot | undefined> {
    const { Snapshots = [] } = await account.aws.ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [
          { Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] },
          { Name: `tag:${RestoreTag.Device}`, Values: [device] },
        ],
      }),
    );
    return Snapshots[0];
  }

  /** Nothing temporary left: no snapshot of the restore; its volumes are exactly the restored ones. */
  async function expectOnlyRestoredVolumes(account: Account, restore: Restore) {
    const left = await census({ source: account, target: account, targetKey: '', targetSubnetId: '' }, [
      restore.id,
    ]);
    expect(left.sourceSnapshots).toEqual([]);
    expect(left.targetInstances).toEqual([]);
    expect(left.targetVolumes.map((v) => v.VolumeId).sort()).toEqual(
      (restore.result?.volumes ?? []).map((v) => v.volumeId).sort(),
    );
  }

  it('emulator: an account has its own zones; a completing EBS direct snapshot is pending for a while', async () => {
    const zoned = accountOn(emulator, ZONED_ACCOUNT);
    const { AvailabilityZones = [] } = await zoned.aws.ec2.send(new DescribeAvailabilityZonesCommand({}));
    expect(AvailabilityZones.map((z) => [z.ZoneName, z.ZoneId, z.State])).toEqual([
      [`${REGION}b`, 'euw1-az3', 'impaired'],
      [`${REGION}c`, 'euw1-az1', 'available'],
    ]);
    await expectAwsError(
      zoned.aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 1 })),
      'InvalidParameterValue',
      `Invalid availability zone: [${REGION}a]`,
    );
    // Without a subnet, RunInstances takes a default subnet of an available zone.
    const { Instances = [] } = await zoned.aws.ec2.send(
      new RunInstancesCommand({ ImageId: await amazonImageId(zoned.aws.ec2), MinCount: 1, MaxCount: 1 }),
    );
    expect(Instances[0]?.Placement?.AvailabilityZone).toBe(`${REGION}c`);
    // CompleteSnapshot seals at once (no block may be written) and answers pending; EC2 says pending
    // for COMPLETING_MS, and a repeated CompleteSnapshot does not change that.
    const snapshotId = await startVisibleSnapshot(zoned.aws.ebs, { VolumeSize: 1 });
    await putBlock(zoned.aws.ebs, snapshotId, 0, Buffer.alloc(524288, 1));
    const complete = () =>
      zoned.aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: 1 }));
    expect((await complete()).Status).toBe('pending');
    await expectAwsError(
      putBlock(zoned.aws.ebs, snapshotId, 1, Buffer.alloc(524288, 1)),
      'ResourceNotFoundException',
    );
    expect((await complete()).Status).toBe('pending');
    // EC2 may not know the id StartSnapshot made yet (InvalidSnapshot.NotFound for a moment).
    const { Snapshots = [] } = await onceVisible(() =>
      zoned.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
    );
    expect(Snapshots[0]?.State).toBe('pending');
    // Every other account keeps the Region's zones.
    const other = accountOn(emulator);
    const { AvailabilityZones: others = [] } = await other.aws.ec2.send(
      new DescribeAvailabilityZonesCommand({}),
    );
    expect(others.map((z) => z.ZoneName)).toEqual([`${REGION}a`, `${REGION}b`, `${REGION}c`]);
  });

  it('ebs-direct: while its snapshot completes, the snapshot step waits as a delayed BullMQ job, not in a worker slot; then the restore succeeds with the restore point data', async () => {
    const account = accountOn(emulator);
    // One snapshot job at a time: the second volume's job can only run while the first one's waits in the queue.
    const restore = await restoreVolumes(account, ['/dev/xvda', '/dev/xvdb'], 200);
    const queue = new Queue(QueueName.Snapshot, {
      connection: restore.pipeline.redis,
      prefix: restore.pipeline.queuePrefix,
    });
    const firstJob = jobIdFor(restore.id, JobName.Snapshot, '/dev/xvda');
    // Two loops watch at once: the job's state in BullMQ (Redis, every 20 ms) and the step snapshots in
    // EC2 (every 50 ms). Each reading holds when it was sent and received on one counter, so a job
    // reading that falls between two snapshot readings happened while the snapshot was as both say.
    let clock = 0;
    let done = false;
    const observe = async <T>(read: () => Promise<T>) => {
      const sent = ++clock;
      const value = await read();
      return { sent, received: ++clock, ...value };
    };
    const jobStates: Array<{ sent: number; received: number; job: string }> = [];
    const snapshots: Array<{
      sent: number;
      received: number;
      first?: string;
      written: boolean;
      second?: string;
    }> = [];
    const watch = async (every: number, read: () => Promise<void>) => {
      while (!done) {
        await read();
        await new Promise((resolve) => setTimeout(resolve, every));
      }
    };
    const watching = Promise.all([
      watch(20, async () => {
        jobStates.push(await observe(async () => ({ job: await queue.getJobState(firstJob) })));
      }),
      watch(50, async () => {
        const reading = await observe(async () => {
          const first = await stepSnapshot(account, restore.id, '/dev/xvda');
          const second = await stepSnapshot(account, restore.id, '/dev/xvdb');
          return {
            ...(first?.State ? { first: first.State } : {}),
            written: first?.Tags?.some((t) => t.Key === BLOCKS_WRITTEN_TAG) ?? false,
            ...(second?.State ? { second: second.State } : {}),
          };
        });
        snapshots.push(reading);
      }),
    ]);
    // The watchers stop before the pipeline closes the Redis connection the queue reads through.
    const ended = await restore.end(async () => {
      done = true;
      await watching;
      await queue.close();
    });

    // The first volume's job sat in BullMQ's delayed set while EC2 held its written snapshot pending...
    const sealedPending = snapshots.filter((r) => r.first === 'pending' && r.written);
    const delayedWhilePending = jobStates.filter(
      (j) =>
        j.job === 'delayed' &&
        sealedPending.some((before) => before.received < j.sent) &&
        sealedPending.some((after) => after.sent > j.received),
    );
    // For a failure message: the job's states run-length encoded, the snapshot readings as they were.
    const runs = jobStates.reduce<string[]>((out, { job }, i) => {
      if (job !== jobStates[i - 1]?.job) out.push(job);
      return out;
    }, []);
    const seen = JSON.stringify({ job: runs, snapshots: snapshots.map(({ sent, received, ...r }) => r) });
    expect(delayedWhilePending.length, seen).toBeGreaterThan(0);
    // ...and meanwhile the one worker slot wrote the second volume.
    expect(sealedPending.filter((r) => r.second === 'pending').length, seen).toBeGreaterThan(0);
    expect(ended.status, JSON.stringify(ended.error)).toBe('succeeded');
    // A wait is not an attempt: each step ran as its first attempt.
    expect(ended.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['snapshot:/dev/xvda', 'succeeded', 1],
      ['snapshot:/dev/xvdb', 'succeeded', 1],
      ['instance', 'succeeded', 1],
      ['cleanup', 'succeeded', 1],
    ]);
    // verify: every block of both snapshots was read back and equals the restore point.
    expect(ended.progress.volumes).toEqual(
      ['/dev/xvda', '/dev/xvdb'].map((deviceName) => ({
        deviceName,
        bytesTotal: GIB,
        bytesDone: GIB,
        phase: 'verify',
        bytesVerified: GIB,
      })),
    );
    const { Volumes = [] } = await account.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: (ended.result?.volumes ?? []).map((v) => v.volumeId) }),
    );
    expect(Volumes.map((v) => [v.KmsKeyId, v.Size])).toEqual([
      [restore.targetKey, 1],
      [restore.targetKey, 1],
    ]);
    await expectOnlyRestoredVolumes(account, ended);
  });

  it('an account without `<region>a` (zone b impaired, zone c available): the volumes are created in its available zone and the restore succeeds', async () => {
    const account = accountOn(emulator, ZONED_ACCOUNT);
    const restore = await restoreVolumes(account, ['/dev/xvda']);
    const ended = await restore.end();
    expect(ended.status, JSON.stringify(ended.error)).toBe('succeeded');
    const volumeIds = (ended.result?.volumes ?? []).map((v) => v.volumeId);
    expect(volumeIds).toHaveLength(1);
    const { Volumes = [] } = await account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: volumeIds }));
    const { AvailabilityZones = [] } = await account.aws.ec2.send(
      new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'state', Values: ['available'] }] }),
    );
    expect(AvailabilityZones.map((z) => z.ZoneName)).toEqual([`${REGION}c`]);
    expect(Volumes.map((v) => [v.AvailabilityZone, v.State, v.KmsKeyId])).toEqual([
      [`${REGION}c`, 'available', restore.targetKey],
    ]);
    await expectOnlyRestoredVolumes(account, ended);
  });
});

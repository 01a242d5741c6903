import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Backup,
  createBackup,
  createKey,
  crossAccountWorld,
  dataBlocksOf,
  defaultSubnet,
  launchInstance,
  newAccount,
  openPipeline,
  type Pipeline,
  REGION,
  removeBackup,
  startRestore,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from './harness.ts';

const DEVICES = ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'];

/** Each backed-up volume's data landed on one of the worker's (emulated) block devices, block for block. */
async function expectDeviceFilesHoldTheImages(deviceDir: string, backup: Backup): Promise<void> {
  const files = await readdir(deviceDir);
  expect(files).toHaveLength(backup.images.length);
  const written = await Promise.all(files.map((file) => dataBlocksOf(join(deviceDir, file))));
  for (const image of backup.images) {
    const expected = await dataBlocksOf(image.path);
    expect(expected.length).toBeGreaterThan(0);
    expect(written, image.deviceName).toContainEqual(expected);
  }
}

/** The temporary volumes are gone and the worker instance has only its own root volume again. */
async function expectWorkerClean(source: Account, restoreId: string, workerInstanceId: string) {
  const { Volumes = [] } = await source.aws.ec2.send(
    new DescribeVolumesCommand({
      Filters: [
        { Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] },
        { Name: `tag:${RestoreTag.Step}`, Values: ['snapshot'] },
      ],
    }),
  );
  expect(Volumes).toEqual([]);
  const { Snapshots = [] } = await source.aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] }],
    }),
  );
  expect(Snapshots).toEqual([]);
  const { Reservations = [] } = await source.aws.ec2.send(
    new DescribeInstancesCommand({ InstanceIds: [workerInstanceId] }),
  );
  expect(Reservations[0]?.Instances?.[0]?.BlockDeviceMappings).toHaveLength(1);
}

describe('worker-volume data path: volumes attached to the worker instance, device files (docs/architecture.md#the-two-flows)', () => {
  let backup: Backup;
  let pipeline: Pipeline | undefined;
  let deviceDir: string | undefined;
  const accounts: Account[] = [];
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    backup = await createBackup(DEVICES);
  }, 300_000);
  afterAll(async () => {
    await removeBackup(backup);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await pipeline?.close();
    for (const account of accounts.splice(0)) account.aws.destroy();
    if (deviceDir) await rm(deviceDir, { recursive: true, force: true });
  });

  it('same account: 3 volumes written through the worker instance, instance restored with the target key', {
    timeout: 600_000,
  }, async () => {
    pipeline = openPipeline();
    const source = newAccount();
    accounts.push(source);
    const targetKey = await createKey(source);
    const workerInstanceId = await launchInstance(source);
    deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
    const env = workerEnv(pipeline, source, backup, {
      WORKER_INSTANCE_ID: workerInstanceId,
      WORKER_DEVICE_DIR: deviceDir,
    });
    workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));

    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: source.id, region: REGION, kmsKeyId: targetKey },
        instance: { subnetId: (await defaultSubnet(source)).subnetId },
        dataPath: 'worker-volume',
      },
      { restorePoint: backup.restorePoint, sourceAccountId: source.id },
    );
    const restore = await waitForEnd(pipeline.store, id, 400_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    expect(restore.progress.bytesDone).toBe(restore.progress.bytesTotal);
    const { Volumes = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: restore.result?.volumes.map((v) => v.volumeId) ?? [] }),
    );
    expect(Volumes.map((v) => v.Attachments?.[0]?.Device).sort()).toEqual(DEVICES);
    for (const volume of Volumes) expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: targetKey });

    await expectDeviceFilesHoldTheImages(deviceDir, backup);
    await expectWorkerClean(source, id, workerInstanceId);
  });

  it('another account: written with the source default key, shared, restored in the target account with the target key', {
    timeout: 600_000,
  }, async () => {
    pipeline = openPipeline();
    const world = await crossAccountWorld();
    accounts.push(world.source, world.target);
    const workerInstanceId = await launchInstance(world.source);
    deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
    const env = workerEnv(pipeline, world.source, backup, {
      WORKER_INSTANCE_ID: workerInstanceId,
      WORKER_DEVICE_DIR: deviceDir,
    });
    workers.push(
      startWorker('snapshot-worker', env),
      startWorker('share-worker', env),
      startWorker('instance-worker', env),
    );

    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: {
          accountId: world.target.id,
          region: REGION,
          roleArn: world.roleArn,
          externalId: world.externalId,
          kmsKeyId: world.targetKey,
        },
        instance: { subnetId: world.targetSubnetId },
        dataPath: 'worker-volume',
      },
      { restorePoint: backup.restorePoint, sourceAccountId: world.source.id },
    );
    const restore = await waitForEnd(pipeline.store, id, 400_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    expect(restore.result?.accountId).toBe(world.target.id);
    const { Volumes = [] } = await world.target.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: restore.result?.volumes.map((v) => v.volumeId) ?? [] }),
    );
    expect(Volumes.map((v) => v.Attachments?.[0]?.Device).sort()).toEqual(DEVICES);
    for (const volume of Volumes)
      expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });

    await expectDeviceFilesHoldTheImages(deviceDir, backup);
    await expectWorkerClean(world.source, id, workerInstanceId);
  });
});

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Backup,
  createBackup,
  dataBlocksOf,
  describeInstance,
  removeBackup,
  type World,
  worldPerTest,
} from '../support/index.ts';

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
  const { instance } = await describeInstance(source, workerInstanceId);
  expect(instance?.BlockDeviceMappings).toHaveLength(1);
}

const openWorld = worldPerTest();

describe('worker-volume data path: volumes attached to the worker instance, device files (docs/architecture.md#the-two-flows)', {
  timeout: 600_000,
}, () => {
  let backup: Backup;
  beforeAll(async () => {
    backup = await createBackup(DEVICES);
  }, 300_000);
  afterAll(() => removeBackup(backup));

  /** Restores through the worker instance; the instance's volumes are at their devices, with the target key. */
  async function restoreThroughWorkerInstance(world: World): Promise<string> {
    const id = await world.startRestore(world.request({ dataPath: 'worker-volume' }));
    const restore = await world.waitForEnd(id, 400_000);
    expect(restore.status, world.output()).toBe('succeeded');
    expect(restore.result?.accountId).toBe(world.target.id);
    expect(restore.progress.bytesDone).toBe(restore.progress.bytesTotal);
    const { Volumes = [] } = await world.target.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: restore.result?.volumes.map((v) => v.volumeId) ?? [] }),
    );
    expect(Volumes.map((v) => v.Attachments?.[0]?.Device).sort()).toEqual(DEVICES);
    for (const volume of Volumes)
      expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });
    return id;
  }

  it('same account: 3 volumes written through the worker instance, instance restored with the target key', async () => {
    const world = await openWorld({ backup, workerInstance: true });
    world.startWorkers(['snapshot-worker', 'instance-worker']);
    const id = await restoreThroughWorkerInstance(world);
    await expectDeviceFilesHoldTheImages(world.deviceDir ?? '', backup);
    await expectWorkerClean(world.source, id, world.workerInstanceId ?? '');
  });

  it('another account: written with the source default key, shared, restored in the target account with the target key', async () => {
    const world = await openWorld({ accounts: 'cross', backup, workerInstance: true });
    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const id = await restoreThroughWorkerInstance(world);
    await expectDeviceFilesHoldTheImages(world.deviceDir ?? '', backup);
    await expectWorkerClean(world.source, id, world.workerInstanceId ?? '');
  });
});

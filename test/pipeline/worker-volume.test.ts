import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { RestoreTag } from '@ec2-restore/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.ts';
import {
  type Account,
  type Backup,
  createBackup,
  dataBlocksOf,
  describeInstance,
  EMPTY_CENSUS,
  openWorldOf,
  removeBackup,
  stepStatus,
  type World,
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

// The three restores run at once, each in its own world: they wait on the workers and the emulator.
describe.concurrent('worker-volume data path: volumes attached to the worker instance, device files (docs/architecture.md#the-two-flows)', {
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

  it('same account: 3 volumes written through the worker instance, instance restored with the target key', async (context) => {
    const world = await openWorldOf(context, { backup, workerInstance: true });
    world.startWorkers(['snapshot-worker', 'instance-worker']);
    const id = await restoreThroughWorkerInstance(world);
    await expectDeviceFilesHoldTheImages(world.deviceDir ?? '', backup);
    await expectWorkerClean(world.source, id, world.workerInstanceId ?? '');
  });

  it('another account: written with the source default key, shared, restored in the target account with the target key', async (context) => {
    const world = await openWorldOf(context, { accounts: 'cross', backup, workerInstance: true });
    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const id = await restoreThroughWorkerInstance(world);
    await expectDeviceFilesHoldTheImages(world.deviceDir ?? '', backup);
    await expectWorkerClean(world.source, id, world.workerInstanceId ?? '');
  });

  // EBS makes a snapshot with the volume's key, and a disabled key fails every use of it at once
  // (https://docs.aws.amazon.com/kms/latest/developerguide/unusable-kms-keys.html): the snapshot ends
  // in the error state, and EBS says why only in an often empty StateMessage.
  it('same account: the key disabled just before CreateSnapshot fails the restore with kms_key_unusable naming the key, its state and the fix; nothing left behind', async (context) => {
    const world = await openWorldOf(context, { backup, workerInstance: true });
    let disabled: Promise<unknown> | undefined;
    // The snapshot worker's calls pass through a proxy that disables the target key as CreateSnapshot goes by.
    const proxy = await startFaultProxy({
      target: process.env.AWS_ENDPOINT_URL!,
      faultRate: 0,
      beforeForward: async (action) => {
        if (action !== 'CreateSnapshot') return;
        disabled ??= world.source.aws.kms.send(new DisableKeyCommand({ KeyId: world.targetKey }));
        await disabled;
      },
    });
    context.onTestFinished(() => proxy.close());
    world.startWorkers(['snapshot-worker'], { AWS_ENDPOINT_URL: proxy.endpoint });
    world.startWorkers(['instance-worker']);
    const id = await world.startRestore(world.request({ dataPath: 'worker-volume', volumes: ['/dev/xvda'] }));
    const restore = await world.waitForEnd(id, 200_000);
    expect(restore.status, world.output()).toBe('failed');
    expect(proxy.counts().ec2Calls.CreateSnapshot).toBeGreaterThan(0);
    expect(restore.error).toMatchObject({
      code: 'kms_key_unusable',
      category: 'kms',
      step: 'snapshot:/dev/xvda',
    });
    expect(restore.error?.message).toContain(world.targetKey);
    expect(restore.error?.message).toContain('Disabled');
    expect(restore.error?.message).toContain(`aws kms enable-key --key-id ${world.targetKey}`);
    const cleaned = await world.waitUntil(id, (r) =>
      ['succeeded', 'failed', 'skipped', 'cancelled'].includes(stepStatus(r, 'cleanup') ?? ''),
    );
    expect(stepStatus(cleaned, 'cleanup'), world.output()).toBe('succeeded');
    expect(await world.census([id])).toEqual(EMPTY_CENSUS);
    await expectWorkerClean(world.source, id, world.workerInstanceId ?? '');
  });
});

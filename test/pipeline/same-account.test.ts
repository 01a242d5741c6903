import { join } from 'node:path';
import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { jobIdFor, QueueName, RestoreTag, type SnapshotJobResult } from '@ec2-restore/contracts';
import { verifySnapshotAgainstRestorePoint } from '@ec2-restore/snapshot-writers';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Account,
  type Backup,
  createBackup,
  createKey,
  defaultSubnet,
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

const GIB = 2 ** 30;

describe('same-account restore, real worker processes (docs/architecture.md#the-two-flows)', () => {
  let pipeline: Pipeline | undefined;
  let backup: Backup | undefined;
  let source: Account | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await pipeline?.close();
    source?.aws.destroy();
    await removeBackup(backup);
  });

  it('ebs-direct: an instance with 3 volumes at their devices, encrypted with the target key, data verified, nothing temporary left', {
    timeout: 600_000,
  }, async () => {
    pipeline = openPipeline();
    backup = await createBackup();
    source = newAccount();
    const targetKey = await createKey(source);
    const { subnetId } = await defaultSubnet(source);
    const env = workerEnv(pipeline, source, backup);

    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: source.id, region: REGION, kmsKeyId: targetKey },
        instance: { name: 'restored-same', subnetId, tags: { team: 'e2e' } },
      },
      { restorePoint: backup.restorePoint, sourceAccountId: source.id },
    );

    // Stage 1: only the snapshot worker runs, so the snapshots can be read back before cleanup.
    workers.push(startWorker('snapshot-worker', env));
    const snapshotQueue = new Queue(QueueName.Snapshot, {
      connection: pipeline.redis,
      prefix: pipeline.queuePrefix,
    });
    const results: SnapshotJobResult[] = [];
    for (const image of backup.images) {
      const jobId = jobIdFor(id, 'snapshot', image.deviceName);
      const deadline = Date.now() + 400_000;
      for (;;) {
        const job = await snapshotQueue.getJob(jobId);
        if (job && (await job.isCompleted())) {
          results.push(job.returnvalue as SnapshotJobResult);
          break;
        }
        if (job && (await job.isFailed()))
          throw new Error(`${jobId} failed: ${job.failedReason}\n${workers[0]?.output()}`);
        if (Date.now() > deadline) throw new Error(`${jobId} not done\n${workers[0]?.output()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await snapshotQueue.close();
    const repository = openBackupRepository(join(backup.folder, 'repo'));
    for (const result of results) {
      expect(result.kmsKeyId).toBe(targetKey);
      const verification = await verifySnapshotAgainstRestorePoint({
        ebs: source.aws.ebs,
        repository,
        restorePointId: backup.restorePoint.id,
        deviceName: result.deviceName,
        snapshotId: result.snapshotId,
      });
      expect(verification, result.deviceName).toMatchObject({
        ok: true,
        blocksChecked: GIB / 524288,
        mismatches: [],
      });
    }

    // Stage 2: the instance worker creates the instance, the volumes, and cleans up.
    workers.push(startWorker('instance-worker', env));
    const restore = await waitForEnd(pipeline.store, id, 180_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    expect(restore.error).toBeNull();
    expect(restore.steps.map((s) => [s.name, s.status])).toEqual([
      ['snapshot:/dev/xvda', 'succeeded'],
      ['snapshot:/dev/xvdb', 'succeeded'],
      ['snapshot:/dev/xvdc', 'succeeded'],
      ['instance', 'succeeded'],
      ['cleanup', 'succeeded'],
    ]);
    expect(restore.progress).toMatchObject({ bytesTotal: 3 * GIB, bytesDone: 3 * GIB });

    const result = restore.result;
    expect(result).toMatchObject({ accountId: source.id, region: REGION });
    const { Reservations = [] } = await source.aws.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [result?.instanceId ?? ''] }),
    );
    const instance = Reservations[0]?.Instances?.[0];
    expect(instance?.State?.Name).toBe('stopped');
    expect(instance?.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'Name', Value: 'restored-same' },
        { Key: 'team', Value: 'e2e' },
        { Key: RestoreTag.RestoreId, Value: id },
      ]),
    );
    const mappings = (instance?.BlockDeviceMappings ?? []).map((m) => [m.DeviceName, m.Ebs?.VolumeId]);
    expect(mappings.map(([device]) => device).sort()).toEqual(['/dev/xvda', '/dev/xvdb', '/dev/xvdc']);
    expect(instance?.RootDeviceName).toBe('/dev/xvda');
    const { Volumes = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: mappings.map(([, volumeId]) => volumeId ?? '') }),
    );
    for (const volume of Volumes) {
      expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: targetKey, Size: 1, State: 'in-use' });
      // Each volume was created from the snapshot of its own device.
      const device = volume.Attachments?.[0]?.Device;
      expect(volume.SnapshotId).toBe(results.find((r) => r.deviceName === device)?.snapshotId);
    }
    expect(result?.volumes.map((v) => v.deviceName).sort()).toEqual(['/dev/xvda', '/dev/xvdb', '/dev/xvdc']);

    // No temporary snapshot left, and the launch root volume is gone.
    const { Snapshots = [] } = await source.aws.ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [id] }],
      }),
    );
    expect(Snapshots).toEqual([]);
    const { Volumes: tagged = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [id] }] }),
    );
    expect(tagged.map((v) => v.VolumeId).sort()).toEqual(Volumes.map((v) => v.VolumeId).sort());
  });
});

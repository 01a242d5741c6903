import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { jobIdFor, QueueName, RestoreTag, type SnapshotJobResult } from '@ec2-restore/contracts';
import { verifySnapshotAgainstRestorePoint } from '@ec2-restore/snapshot-writers';
import { describe, expect, it } from 'vitest';
import { describeInstance, GIB, REGION, worldPerTest } from '../support/index.ts';

const openWorld = worldPerTest();

describe('same-account restore, real worker processes (docs/architecture.md#the-two-flows)', {
  timeout: 600_000,
}, () => {
  it('ebs-direct: an instance with 3 volumes at their devices, encrypted with the target key, data verified, nothing temporary left', async () => {
    const w = await openWorld();
    const { source, targetKey, backup } = w;
    const id = await w.startRestore(
      w.request({ instance: { name: 'restored-same', subnetId: w.targetSubnetId, tags: { team: 'e2e' } } }),
    );

    // Stage 1: only the snapshot worker runs, so the snapshots can be read back before cleanup.
    w.startWorkers(['snapshot-worker']);
    const results: SnapshotJobResult[] = [];
    for (const image of backup.images) {
      const jobId = jobIdFor(id, 'snapshot', image.deviceName);
      results.push((await w.jobResult(QueueName.Snapshot, jobId)) as SnapshotJobResult);
    }
    const repository = openBackupRepository(backup.repositoryPath);
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
    w.startWorkers(['instance-worker']);
    const restore = await w.waitForEnd(id, 180_000);
    expect(restore.status, w.output()).toBe('succeeded');
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
    const { instance } = await describeInstance(source, result?.instanceId ?? '');
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

import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { ListGrantsCommand } from '@aws-sdk/client-kms';
import { type CleanupJobResult, jobIdFor, QueueName, type ShareJobResult } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { readEventStream } from '../api/sse.ts';
import { describeInstance, GIB, REGION, snapshotsOf, worldPerTest } from '../support/index.ts';

const DEVICES = ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'];

const openWorld = worldPerTest();

describe('restore into another account through the API, real worker processes (docs/architecture.md#the-two-flows)', {
  timeout: 600_000,
}, () => {
  it('ebs-direct with kmsGrant auto: instance and volumes in the target account with the target key; shares withdrawn, snapshots deleted, grant revoked; steps, progress and events right', async () => {
    // A UEFI Linux instance with IMDSv2 required (docs/architecture.md#launch-strategies).
    const world = await openWorld({
      accounts: 'cross',
      devices: DEVICES,
      api: true,
      recorded: {
        instance: {
          bootMode: 'uefi',
          enaSupport: true,
          imdsHttpTokens: 'required',
          virtualizationType: 'hvm',
        },
      },
    });
    const { source, target, api } = world;
    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);

    const { status, restore: accepted } = await world.postRestore(
      world.request({
        instance: { name: 'restored-cross', subnetId: world.targetSubnetId, powerOn: true },
        kmsGrant: 'auto',
      }),
    );
    expect(status, JSON.stringify(accepted)).toBe(202);
    expect(accepted).toMatchObject({ status: 'queued', mode: 'cross-account' });
    const id = accepted.id;

    // The share step saw every snapshot and made the grant; the instance step used the shared snapshots.
    const shared = (await world.jobResult(QueueName.Share, jobIdFor(id, 'share'))) as ShareJobResult;
    expect(shared.snapshots.map((s) => s.deviceName)).toEqual(DEVICES);
    for (const snapshot of shared.snapshots) expect(snapshot.kmsKeyId).toBe(world.sourceDefaultKey);
    expect(shared.grant?.keyId).toBe(world.sourceDefaultKey);

    const restore = await world.waitForEnd(id, 300_000);
    expect(restore.status, world.output()).toBe('succeeded');
    expect(restore.steps.map((s) => [s.name, s.status])).toEqual([
      ...DEVICES.map((d) => [`snapshot:${d}`, 'succeeded']),
      ['share', 'succeeded'],
      ['instance', 'succeeded'],
      ['cleanup', 'succeeded'],
    ]);
    // Nothing here fails: every step succeeds at its first attempt. A snapshot shared a moment ago that
    // the target account does not see yet (InvalidSnapshot.NotFound) is waited for, not a failed attempt.
    expect(restore.steps.filter((s) => s.attempts !== 1).map((s) => [s.name, s.attempts])).toEqual([]);
    expect(restore.progress).toEqual({
      bytesTotal: 3 * GIB,
      bytesDone: 3 * GIB,
      // Not a verified restore: every volume stays in the write phase and nothing is read back.
      volumes: DEVICES.map((deviceName) => ({
        deviceName,
        bytesTotal: GIB,
        bytesDone: GIB,
        phase: 'write',
        bytesVerified: 0,
      })),
    });

    // The instance and its volumes are in the target account, encrypted with the target key.
    const result = restore.result;
    expect(result).toMatchObject({ accountId: target.id, region: REGION });
    const { instance, ownerId } = await describeInstance(target, result?.instanceId ?? '');
    expect(instance?.State?.Name).toBe('running');
    // It boots as the original: the image registered in the target account carried the recorded attributes.
    expect(instance).toMatchObject({
      BootMode: 'uefi',
      EnaSupport: true,
      MetadataOptions: expect.objectContaining({ HttpTokens: 'required' }),
    });
    expect(ownerId).toBe(target.id);
    expect(instance?.Tags).toEqual(expect.arrayContaining([{ Key: 'Name', Value: 'restored-cross' }]));
    expect((instance?.BlockDeviceMappings ?? []).map((m) => m.DeviceName).sort()).toEqual(DEVICES);
    const { Volumes = [] } = await target.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: result?.volumes.map((v) => v.volumeId) ?? [] }),
    );
    expect(Volumes).toHaveLength(3);
    // register-image (docs/architecture.md#launch-strategies): the data volumes come from the shared
    // snapshots, the root from the target-owned copy the image was registered from (deleted by cleanup).
    expect(result?.launchStrategy).toBe('register-image');
    const rootVolume = result?.volumes.find((v) => v.deviceName === instance?.RootDeviceName)?.volumeId;
    for (const volume of Volumes) {
      expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey, State: 'in-use' });
      const fromShared = shared.snapshots.map((s) => s.snapshotId).includes(volume.SnapshotId ?? '');
      expect(fromShared, volume.VolumeId).toBe(volume.VolumeId !== rootVolume);
    }
    for (const v of result?.volumes ?? []) expect(v.kmsKeyId).toBe(world.targetKey);

    // Source account: the temporary snapshots were unshared and deleted; the grant is gone.
    const cleanup = (await world.jobResult(QueueName.Instance, jobIdFor(id, 'cleanup'))) as CleanupJobResult;
    const snapshotIds = shared.snapshots.map((s) => s.snapshotId).sort();
    expect([...cleanup.unsharedSnapshots].sort()).toEqual(snapshotIds);
    // Also deleted: the target account's copy of the root snapshot, after its image was deregistered.
    expect(cleanup.deletedSnapshots).toEqual(expect.arrayContaining(snapshotIds));
    expect(cleanup.deletedSnapshots).toHaveLength(snapshotIds.length + 1);
    expect(cleanup.deregisteredImages).toHaveLength(1);
    expect(cleanup.retiredGrants).toEqual([shared.grant?.grantId]);
    expect(await snapshotsOf(source.aws.ec2, [id])).toEqual([]);
    expect(await snapshotsOf(target.aws.ec2, [id])).toEqual([]);
    for (const snapshotId of snapshotIds) {
      await expect(
        target.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
      ).rejects.toMatchObject({ name: 'InvalidSnapshot.NotFound' });
    }
    const { Grants = [] } = await source.aws.kms.send(
      new ListGrantsCommand({ KeyId: world.sourceDefaultKey ?? '' }),
    );
    expect(Grants.filter((g) => g.Name === `ec2-restore-${id}`)).toEqual([]);

    // The event stream replays every step change and ends with the end event.
    const stream = await api.call(`/v1/restores/${id}/events`);
    expect(stream.status).toBe(200);
    const events = await readEventStream(stream, 10_000);
    const stepEvents = events
      .filter((e) => e.event === 'step')
      .map((e) => e.data as { name: string; status: string });
    for (const name of [...DEVICES.map((d) => `snapshot:${d}`), 'share', 'instance', 'cleanup']) {
      expect(stepEvents, name).toContainEqual(expect.objectContaining({ name, status: 'running' }));
      expect(stepEvents, name).toContainEqual(expect.objectContaining({ name, status: 'succeeded' }));
    }
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
  });
});

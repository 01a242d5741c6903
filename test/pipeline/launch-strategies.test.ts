import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { RestoreTag } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { type Account, type World, worldPerTest } from '../support/index.ts';

// Launch strategies (docs/architecture.md#launch-strategies), with real worker processes.

async function describeInstance(account: Account, instanceId: string): Promise<Instance | undefined> {
  const { Reservations = [] } = await account.aws.ec2.send(
    new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
  );
  return Reservations[0]?.Instances?.[0];
}

/** What the restore left in the account: its temporary images and snapshots (none expected). */
async function leftovers(account: Account, restoreId: string) {
  const Filters = [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] }];
  const { Images = [] } = await account.aws.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters }),
  );
  const { Snapshots = [] } = await account.aws.ec2.send(
    new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters }),
  );
  return {
    images: Images.filter((i) => i.State !== 'deregistered').map((i) => i.ImageId),
    snapshots: Snapshots.map((s) => s.SnapshotId),
  };
}

const openWorld = worldPerTest();

/** Starts a restore of the world's restore point and both workers; returns its end. */
async function restoreIn(world: World, overrides: Parameters<World['request']>[0] = {}) {
  const id = await world.startRestore(world.request(overrides));
  world.startWorkers(['snapshot-worker', 'instance-worker']);
  return { id, restore: await world.waitForEnd(id, 300_000) };
}

describe('launch strategies: the restored instance boots and bills as the original', {
  timeout: 600_000,
}, () => {
  it('a UEFI Linux restore point (same account): register-image, BootMode uefi, IMDSv2 and DeleteOnTermination as recorded, no image or snapshot left', async () => {
    const world = await openWorld({
      devices: ['/dev/xvda', '/dev/xvdb'],
      recorded: {
        instance: {
          instanceType: 'm6i.large',
          bootMode: 'uefi',
          enaSupport: true,
          imdsHttpTokens: 'required',
          virtualizationType: 'hvm',
          billing: { platformDetails: 'Linux/UNIX', usageOperation: 'RunInstances' },
        },
        deleteOnTermination: { '/dev/xvda': true, '/dev/xvdb': false },
      },
    });
    const { source, targetKey } = world;
    const { id, restore } = await restoreIn(world);
    expect(restore.status, world.output()).toBe('succeeded');
    expect(restore.result?.launchStrategy).toBe('register-image');

    const instance = await describeInstance(source, restore.result?.instanceId ?? '');
    expect(instance).toMatchObject({
      State: { Name: 'stopped' },
      InstanceType: 'm6i.large',
      BootMode: 'uefi',
      EnaSupport: true,
      RootDeviceName: '/dev/xvda',
      MetadataOptions: expect.objectContaining({ HttpTokens: 'required' }),
      PlatformDetails: 'Linux/UNIX',
      UsageOperation: 'RunInstances',
    });
    const mappings = new Map(
      (instance?.BlockDeviceMappings ?? []).map((m) => [m.DeviceName, m.Ebs] as const),
    );
    expect([...mappings.keys()].sort()).toEqual(['/dev/xvda', '/dev/xvdb']);
    expect(mappings.get('/dev/xvda')?.DeleteOnTermination).toBe(true);
    expect(mappings.get('/dev/xvdb')?.DeleteOnTermination).toBe(false);
    const { Volumes = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [...mappings.values()].map((e) => e?.VolumeId ?? '') }),
    );
    for (const volume of Volumes)
      expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: targetKey, Size: 1 });
    expect(restore.result?.volumes.map((v) => v.kmsKeyId)).toEqual([targetKey, targetKey]);
    expect(await leftovers(source, id)).toEqual({ images: [], snapshots: [] });
  });

  it('a Windows restore point: launch-and-swap from the Windows base edition (legacy BIOS, RunInstances:0002), never SQL Server', async () => {
    const world = await openWorld({
      devices: ['/dev/sda1', '/dev/xvdf'],
      recorded: {
        instance: {
          platform: 'windows',
          bootMode: 'legacy-bios',
          enaSupport: true,
          billing: { platformDetails: 'Windows', usageOperation: 'RunInstances:0002' },
        },
      },
    });
    const { source, targetKey } = world;
    const { restore } = await restoreIn(world);
    expect(restore.status, world.output()).toBe('succeeded');
    expect(restore.result?.launchStrategy).toBe('launch-and-swap');

    const instance = await describeInstance(source, restore.result?.instanceId ?? '');
    expect(instance).toMatchObject({
      BootMode: 'legacy-bios',
      PlatformDetails: 'Windows',
      UsageOperation: 'RunInstances:0002',
      RootDeviceName: '/dev/sda1',
    });
    const { Images = [] } = await source.aws.ec2.send(
      new DescribeImagesCommand({ ImageIds: [instance?.ImageId ?? ''] }),
    );
    expect(Images[0]?.Name).toMatch(/^Windows_Server-.*Base/);
    expect(Images[0]?.Name).not.toMatch(/SQL/);
    const { Volumes = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({
        VolumeIds: (instance?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.VolumeId ?? ''),
      }),
    );
    expect(Volumes.map((v) => v.KmsKeyId)).toEqual([targetKey, targetKey]);
  });

  it('a launch whose root key the account cannot use: failed, category kms, with the StateReason; nothing left behind', async () => {
    const world = await openWorld({
      devices: ['/dev/xvda'],
      recorded: { instance: { bootMode: 'uefi', enaSupport: true } },
    });
    const { source, targetKey } = world;
    const id = await world.startRestore(world.request());
    world.startWorkers(['snapshot-worker']);
    // The snapshot is written; then the key policy changes (after the pre-flight): the account may
    // still describe the key and read the snapshot, but not create volumes with it.
    await world.waitUntil(
      id,
      (r) => r.steps.find((s) => s.name === 'snapshot:/dev/xvda')?.status === 'succeeded',
      300_000,
    );
    await source.aws.kms.send(
      new PutKeyPolicyCommand({
        KeyId: targetKey,
        PolicyName: 'default',
        BypassPolicyLockoutSafetyCheck: true,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${source.id}:root` },
              Action: [
                'kms:DescribeKey',
                'kms:Decrypt',
                'kms:GetKeyPolicy',
                'kms:PutKeyPolicy',
                'kms:ReEncrypt*',
              ],
              Resource: '*',
            },
          ],
        }),
      }),
    );
    world.startWorkers(['instance-worker']);
    const restore = await world.waitForEnd(id, 300_000);
    expect(restore.status, world.output()).toBe('failed');
    // The restore is failed at once; its cleanup runs after.
    await world.waitUntil(
      id,
      (r) => r.steps.find((s) => s.name === 'cleanup')?.status === 'succeeded',
      120_000,
    );
    expect(restore.error).toMatchObject({ category: 'kms', step: 'instance' });
    expect(restore.error?.message).toMatch(/StateReason Client\.InvalidKMSKey\.InvalidState/);
    expect(restore.error?.message).toContain(targetKey);
    expect(await leftovers(source, id)).toEqual({ images: [], snapshots: [] });
    const Filters = [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [id] }];
    const { Reservations = [] } = await source.aws.ec2.send(new DescribeInstancesCommand({ Filters }));
    const states = Reservations.flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
    expect(states.every((s) => s === 'terminated' || s === 'shutting-down')).toBe(true);
    const { Volumes = [] } = await source.aws.ec2.send(new DescribeVolumesCommand({ Filters }));
    expect(Volumes.map((v) => v.VolumeId)).toEqual([]);
  });
});

import { DescribeInstancesCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { launchInstance, worldPerTest } from '../support/index.ts';

const openWorld = worldPerTest();

describe('volume-level restore (docs/architecture.md#the-public-interface: `volumes`)', {
  timeout: 600_000,
}, () => {
  it('one volume into an existing instance: attached at its device name, encrypted with the target key, no new instance', async () => {
    const w = await openWorld({ devices: ['/dev/xvda', '/dev/xvdb'] });
    const { source, targetKey } = w;
    const existing = await launchInstance(source);
    w.startWorkers(['snapshot-worker', 'instance-worker']);

    const id = await w.startRestore(
      w.request({ instance: { instanceId: existing }, volumes: ['/dev/xvdb'] }),
    );
    const restore = await w.waitForEnd(id, 400_000);
    expect(restore.status, w.output()).toBe('succeeded');
    expect(restore.steps.map((s) => s.name)).toEqual(['snapshot:/dev/xvdb', 'instance', 'cleanup']);
    expect(restore.result?.instanceId).toBe(existing);
    expect(restore.result?.volumes).toHaveLength(1);

    const { Reservations = [] } = await source.aws.ec2.send(new DescribeInstancesCommand({}));
    const instances = Reservations.flatMap((r) => r.Instances ?? []);
    expect(instances.map((i) => i.InstanceId)).toEqual([existing]);
    const attached = instances[0]?.BlockDeviceMappings?.find((m) => m.DeviceName === '/dev/xvdb');
    expect(attached?.Ebs?.VolumeId).toBe(restore.result?.volumes[0]?.volumeId);
    const { Volumes = [] } = await source.aws.ec2.send(
      new DescribeVolumesCommand({ VolumeIds: [attached?.Ebs?.VolumeId ?? ''] }),
    );
    expect(Volumes[0]).toMatchObject({ Encrypted: true, KmsKeyId: targetKey, Size: 1 });
  });
});

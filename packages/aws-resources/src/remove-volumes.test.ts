import type { EC2Client, Volume } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { DETACH_REQUESTED_TAG, removeVolumes } from './remove-volumes.ts';

/*
 * The detach rule, with a stand-in for EC2 whose detach never finishes unless forced (the emulator
 * detaches at once, so a volume a customer's instance holds on to cannot be made there). The
 * removal of volumes against the emulator is covered by test/sweeper and test/pipeline.
 */

interface FakeVolume {
  state: 'available' | 'in-use';
  instanceId?: string;
  tags: Record<string, string>;
}

function fakeEc2(volumes: Record<string, FakeVolume>) {
  const calls: Array<{ command: string; input: Record<string, unknown> }> = [];
  const send = async (command: { input: Record<string, unknown> }) => {
    const name = command.constructor.name;
    const { input } = command;
    calls.push({ command: name, input });
    const id = (input.VolumeId ?? (input.VolumeIds as string[] | undefined)?.[0]) as string;
    switch (name) {
      case 'CreateTagsCommand': {
        const [resource] = input.Resources as string[];
        for (const tag of input.Tags as { Key: string; Value: string }[])
          volumes[resource ?? '']!.tags[tag.Key] = tag.Value;
        return {};
      }
      case 'DetachVolumeCommand':
        // Only a forced detach ends: the instance holding the volume never lets go of it.
        if (input.Force) volumes[id]!.state = 'available';
        return {};
      case 'DescribeVolumesCommand':
        return { Volumes: [{ VolumeId: id, State: volumes[id]!.state }] };
      case 'DeleteVolumeCommand':
        delete volumes[id];
        return {};
      default:
        throw new Error(`unexpected ${name}`);
    }
  };
  return { ec2: { send } as unknown as EC2Client, calls };
}

const described = (id: string, v: FakeVolume): Volume => ({
  VolumeId: id,
  State: v.state,
  Attachments: v.instanceId ? [{ InstanceId: v.instanceId, Device: '/dev/sdf', State: 'attached' }] : [],
  Tags: Object.entries(v.tags).map(([Key, Value]) => ({ Key, Value })),
});

describe('removeVolumes', () => {
  it('forces a detach only off an instance the restore launched, and reports the rest after the grace', async () => {
    const volumes: Record<string, FakeVolume> = {
      'vol-launched': { state: 'in-use', instanceId: 'i-launched', tags: {} },
      'vol-customer': { state: 'in-use', instanceId: 'i-customer', tags: {} },
      'vol-free': { state: 'available', tags: {} },
    };
    const { ec2, calls } = fakeEc2(volumes);
    const options = { launchedInstances: new Set(['i-launched']), waitMs: 0, pollMs: 1 };
    const first = await removeVolumes(
      ec2,
      Object.entries(volumes).map(([id, v]) => described(id, v)),
      options,
    );
    expect(first).toEqual([
      { volumeId: 'vol-launched', outcome: 'deleted', detached: 'forced' },
      { volumeId: 'vol-customer', outcome: 'detaching', attachedTo: ['i-customer'] },
      { volumeId: 'vol-free', outcome: 'deleted' },
    ]);
    const detaches = calls.filter((c) => c.command === 'DetachVolumeCommand').map((c) => c.input);
    expect(detaches).toEqual([
      { VolumeId: 'vol-launched', InstanceId: 'i-launched', Device: '/dev/sdf', Force: true },
      { VolumeId: 'vol-customer', InstanceId: 'i-customer', Device: '/dev/sdf' },
    ]);
    // The first request is remembered on the volume; past the grace the volume is reported, not forced.
    const requestedAt = volumes['vol-customer']!.tags[DETACH_REQUESTED_TAG];
    expect(requestedAt).toBeDefined();
    calls.length = 0;
    const later = await removeVolumes(ec2, [described('vol-customer', volumes['vol-customer']!)], {
      ...options,
      graceMs: 0,
    });
    expect(later).toEqual([
      {
        volumeId: 'vol-customer',
        outcome: 'stuck',
        attachedTo: ['i-customer'],
        detachRequestedAt: requestedAt,
      },
    ]);
    expect(calls.some((c) => c.input.Force === true)).toBe(false);
    expect(volumes['vol-customer']).toBeDefined();
  });
});

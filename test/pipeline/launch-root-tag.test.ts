import {
  CreateVolumeCommand,
  DescribeVolumesCommand,
  StopInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { LAUNCH_ROOT_STEP, LAUNCH_VOLUME_STEP, RestoreTag } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { afterEach, describe, expect, it } from 'vitest';
import { swapRootVolume } from '../../packages/pipeline/src/steps/launch-and-swap.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import {
  type Account,
  clientsFor,
  describeInstance,
  launchInstance,
  newAccount,
  volumeInState,
  ZONE,
} from '../support/index.ts';

// launch-and-swap's root swap (docs/architecture.md#launch-strategies), called directly against the
// emulator. The launch-root tag is what cleanup deletes volumes by: on any volume but the launched
// instance's root (another launch volume, a restored volume) a cleanup would delete what the user keeps.
// Amazon's catalogue images map one volume, so the launch here adds a second launch volume (as a base
// image with two mappings would) and a crash between tagging and DeleteVolume is made by the fault
// proxy answering every DeleteVolume "Unavailable".

let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const restoreTags = (restoreId: string, step: string) => [
  { Key: RestoreTag.RestoreId, Value: restoreId },
  { Key: RestoreTag.Step, Value: step },
];

const stepOf = (volume: Volume) => volume.Tags?.find((t) => t.Key === RestoreTag.Step)?.Value;

async function volumesOf(account: Account, restoreId: string): Promise<Map<string, Volume>> {
  const { Volumes = [] } = await account.aws.ec2.send(
    new DescribeVolumesCommand({ Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] }] }),
  );
  return new Map(Volumes.map((v) => [v.VolumeId ?? '', v]));
}

/** A stopped instance launched as launch-and-swap does, plus a second launch volume at /dev/xvdg. */
async function stoppedLaunch(account: Account, restoreId: string) {
  const instanceId = await launchInstance(account, undefined, {
    BlockDeviceMappings: [{ DeviceName: '/dev/xvdg', Ebs: { VolumeSize: 1 } }],
    TagSpecifications: [
      { ResourceType: 'instance', Tags: restoreTags(restoreId, 'instance') },
      { ResourceType: 'volume', Tags: restoreTags(restoreId, LAUNCH_VOLUME_STEP) },
    ],
  });
  await account.aws.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  for (let tries = 0; ; tries++) {
    const { instance } = await describeInstance(account, instanceId);
    if (instance?.State?.Name === 'stopped') return instance;
    if (tries > 100) throw new Error(`instance ${instanceId} did not stop: ${instance?.State?.Name}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A stopped launch with a second launch volume and a restored root volume, all tagged as the step tags them. */
async function swapSetup() {
  const account = newAccount({ maxAttempts: 4 });
  const restoreId = `r-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const instance = await stoppedLaunch(account, restoreId);
  const rootDevice = instance.RootDeviceName ?? '';
  const byDevice = new Map(
    (instance.BlockDeviceMappings ?? []).map((m) => [m.DeviceName, m.Ebs?.VolumeId ?? ''] as const),
  );
  const launchRoot = byDevice.get(rootDevice) ?? '';
  const otherLaunchVolume = byDevice.get('/dev/xvdg') ?? '';
  expect(launchRoot).toMatch(/^vol-/);
  expect(otherLaunchVolume).toMatch(/^vol-/);
  const { VolumeId } = await account.aws.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: ZONE,
      Size: 1,
      TagSpecifications: [{ ResourceType: 'volume', Tags: restoreTags(restoreId, 'instance') }],
    }),
  );
  const restoredRootId = VolumeId ?? '';
  await volumeInState(account, restoredRootId);
  const restoredRoot = (await volumesOf(account, restoreId)).get(restoredRootId) ?? {};
  return {
    account,
    restoreId,
    instance,
    rootDevice,
    launchRoot,
    otherLaunchVolume,
    restoredRootId,
    restoredRoot,
  };
}

describe('launch-and-swap: the launch-root tag', { timeout: 120_000 }, () => {
  it('a swap that dies before DeleteVolume has marked only the launched root volume (not another launch volume, not the restored root)', async () => {
    const { account, restoreId, instance, launchRoot, otherLaunchVolume, restoredRootId, restoredRoot } =
      await swapSetup();
    // Every DeleteVolume fails: the swap dies after tagging and detaching the launch root.
    proxy = await startFaultProxy({
      target: process.env.AWS_ENDPOINT_URL!,
      faultRate: 1,
      faults: ['Unavailable'],
      eligible: (action) => action === 'DeleteVolume',
    });
    const viaProxy = clientsFor(credentialsForAccount(account.id), { endpoint: proxy.endpoint });
    await expect(swapRootVolume(viaProxy.ec2, instance, restoredRoot, restoreId)).rejects.toThrow();
    const volumes = await volumesOf(account, restoreId);
    const tagged = [...volumes.values()].filter((v) => stepOf(v) === LAUNCH_ROOT_STEP);
    expect(tagged.map((v) => v.VolumeId)).toEqual([launchRoot]);
    expect(stepOf(volumes.get(otherLaunchVolume) ?? {})).toBe(LAUNCH_VOLUME_STEP);
    expect(stepOf(volumes.get(restoredRootId) ?? {})).toBe('instance');
  });

  // A retried swap finds the root slot empty (the launched root was detached): the launched root must be
  // found again by the launch-root tag it set, never taken to be the one launch volume still attached.
  it.each(['AttachVolume', 'DeleteVolume'])(
    'a swap that dies at %s after detaching the launched root, retried, deletes the launched root only: the second launch volume stays, untagged, the restored root is the root',
    async (failingAction) => {
      const s = await swapSetup();
      proxy = await startFaultProxy({
        target: process.env.AWS_ENDPOINT_URL!,
        faultRate: 1,
        faults: ['Unavailable'],
        eligible: (action) => action === failingAction,
      });
      const viaProxy = clientsFor(credentialsForAccount(s.account.id), { endpoint: proxy.endpoint });
      await expect(swapRootVolume(viaProxy.ec2, s.instance, s.restoredRoot, s.restoreId)).rejects.toThrow();
      // The retry sees what the step's retry sees: the instance and the restored root described again.
      const { instance } = await describeInstance(s.account, s.instance.InstanceId ?? '');
      const restoredRoot = (await volumesOf(s.account, s.restoreId)).get(s.restoredRootId) ?? {};
      await swapRootVolume(s.account.aws.ec2, instance ?? {}, restoredRoot, s.restoreId);
      await volumeInState(s.account, s.restoredRootId, 'in-use');
      const volumes = await volumesOf(s.account, s.restoreId);
      expect(volumes.has(s.launchRoot)).toBe(false);
      const other = volumes.get(s.otherLaunchVolume);
      expect(stepOf(other ?? {})).toBe(LAUNCH_VOLUME_STEP);
      expect(other?.Attachments?.map((a) => a.Device)).toEqual(['/dev/xvdg']);
      expect(volumes.get(s.restoredRootId)?.Attachments?.map((a) => a.Device)).toEqual([s.rootDevice]);
      const after = await describeInstance(s.account, s.instance.InstanceId ?? '');
      expect(
        after.instance?.BlockDeviceMappings?.find((m) => m.DeviceName === s.rootDevice)?.Ebs?.VolumeId,
      ).toBe(s.restoredRootId);
    },
  );

  it('the swap deletes the launched root: no volume left with the tag, the other launch volume and the restored root stay attached', async () => {
    const s = await swapSetup();
    await swapRootVolume(s.account.aws.ec2, s.instance, s.restoredRoot, s.restoreId);
    await volumeInState(s.account, s.restoredRootId, 'in-use');
    const volumes = await volumesOf(s.account, s.restoreId);
    const attached = (id: string) => volumes.get(id)?.Attachments?.map((a) => a.Device);
    expect(attached(s.restoredRootId)).toEqual([s.rootDevice]);
    expect(attached(s.otherLaunchVolume)).toEqual(['/dev/xvdg']);
    expect([...volumes.values()].filter((v) => stepOf(v) === LAUNCH_ROOT_STEP)).toEqual([]);
    expect(volumes.has(s.launchRoot)).toBe(false);
  });
});

import {
  type _InstanceType,
  AttachVolumeCommand,
  CreateTagsCommand,
  DeleteVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { isNewResourceNotFound } from '@ec2-restore/aws-clients';
import {
  clientTokenFor,
  type InstanceJobInput,
  type InstanceJobResult,
  JobName,
  type RestoredVolume,
  RestoreTag,
  type SnapshotJobResult,
} from '@ec2-restore/contracts';
import { ensureVolume } from '../aws/ensure-volume.ts';
import { findLaunchImage } from '../aws/launch-image.ts';
import { pollUntil } from '../aws/poll.ts';
import {
  findTaggedInstances,
  findTaggedVolumes,
  restoreTags,
  tagSpecification,
} from '../aws/restore-tags.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import type { StepContext } from './step-context.ts';

const STEP = JobName.Instance;
/** Tag step of the root volume the instance was launched with (deleted once swapped out). */
export const LAUNCH_ROOT_STEP = 'instance-launch-root';
/**
 * Tag step of every volume RunInstances creates from the launch image's mappings (a tag
 * specification cannot pick one device). Only the root one is re-tagged {@link LAUNCH_ROOT_STEP}
 * when it is swapped out; the others belong to the instance.
 */
export const LAUNCH_VOLUME_STEP = 'instance-launch';
/** In-job wait for a state change before handing the wait back to the queue. */
const SHORT_WAIT_MS = 20_000;
const RECHECK_MS = 10_000;

async function describeInstance(ec2: EC2Client, instanceId: string): Promise<Instance> {
  const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = Reservations[0]?.Instances?.[0];
  if (!instance) throw new Error(`instance ${instanceId} is not visible to the restore role`);
  return instance;
}

/** DescribeInstances of an instance just launched: undefined while EC2 does not show it yet. */
async function describeNewInstance(ec2: EC2Client, instanceId: string): Promise<Instance | undefined> {
  try {
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return Reservations[0]?.Instances?.[0];
  } catch (error) {
    if (isNewResourceNotFound(error)) return undefined;
    throw error;
  }
}

async function waitForInstanceState(ec2: EC2Client, instanceId: string, state: string): Promise<Instance> {
  const reached = await pollUntil(
    async () => {
      const instance = await describeNewInstance(ec2, instanceId);
      return instance?.State?.Name === state ? instance : undefined;
    },
    { timeoutMs: SHORT_WAIT_MS },
  );
  if (!reached) throw new StepPendingError(`instance ${instanceId} to be ${state}`, RECHECK_MS);
  return reached;
}

async function waitForVolumeState(ec2: EC2Client, volumeId: string, state: 'available' | 'in-use') {
  const reached = await pollUntil(
    async () => {
      const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      const volume = Volumes[0];
      const attachedOk =
        state === 'available' || volume?.Attachments?.every((a) => a.State === 'attached') === true;
      return volume?.State === state && attachedOk ? volume : undefined;
    },
    { timeoutMs: SHORT_WAIT_MS },
  );
  if (!reached) throw new StepPendingError(`volume ${volumeId} to be ${state}`, RECHECK_MS);
  return reached;
}

/** The key ARN of the target key (re-checked: it must still exist and be enabled). */
async function resolveTargetKey(ctx: StepContext, input: InstanceJobInput): Promise<string> {
  const { kms } = ctx.clients.target(input);
  const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: input.targetKmsKeyId }));
  if (!KeyMetadata?.Arn || KeyMetadata.KeyState !== 'Enabled') {
    throw new PermanentStepError(
      `target key ${input.targetKmsKeyId} is ${KeyMetadata?.KeyState ?? 'unknown'}; the volumes can only be encrypted with an Enabled key (enable it or choose another target.kmsKeyId)`,
      { code: 'kms_key_unusable', category: 'kms' },
    );
  }
  return KeyMetadata.Arn;
}

/** The instance this restore launched (found by tag), or a new one, stopped. */
async function ensureStoppedInstance(ctx: StepContext, input: InstanceJobInput): Promise<Instance> {
  const { ec2 } = ctx.clients.target(input);
  const owner = { restoreId: input.restoreId, step: STEP };
  let [instance] = await findTaggedInstances(ec2, owner);
  if (!instance) {
    await ctx.checkpoint();
    const image = await findLaunchImage(ec2, input.restorePoint);
    const userTags = {
      ...input.instance.tags,
      ...(input.instance.name ? { Name: input.instance.name } : {}),
    };
    const { Instances = [] } = await ec2.send(
      new RunInstancesCommand({
        ImageId: image.ImageId,
        InstanceType: (input.instance.instanceType ?? input.restorePoint.instanceType) as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: input.instance.subnetId,
        SecurityGroupIds: input.instance.securityGroupIds,
        ClientToken: clientTokenFor(input.restoreId, STEP, 'run-instances'),
        TagSpecifications: [
          ...tagSpecification('instance', restoreTags(owner, userTags)),
          // The launch volumes carry their own step tag: cleanup removes them if the restore fails.
          ...tagSpecification(
            'volume',
            restoreTags({ restoreId: input.restoreId, step: LAUNCH_VOLUME_STEP }),
          ),
        ],
      }),
    );
    instance = Instances[0];
    if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
  }
  const instanceId = instance.InstanceId ?? '';
  const state = instance.State?.Name;
  if (state === 'stopped') return instance;
  if (state === 'pending') await waitForInstanceState(ec2, instanceId, 'running');
  if (state !== 'stopping') await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  return waitForInstanceState(ec2, instanceId, 'stopped');
}

/**
 * The first available zone of the region as this account sees it: zone names are per account
 * and `<region>a` does not exist in every account or region
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html).
 */
export async function firstAvailableZone(ec2: EC2Client, region: string): Promise<string> {
  const { AvailabilityZones = [] } = await ec2.send(
    new DescribeAvailabilityZonesCommand({
      Filters: [
        { Name: 'state', Values: ['available'] },
        { Name: 'zone-type', Values: ['availability-zone'] },
      ],
    }),
  );
  const names = AvailabilityZones.flatMap((z) => (z.ZoneName ? [z.ZoneName] : [])).sort();
  const zone = names[0];
  if (!zone) {
    throw new PermanentStepError(`no available availability zone in ${region} for this account`, {
      code: 'aws_error',
      category: 'aws',
    });
  }
  return zone;
}

async function availabilityZoneFor(ec2: EC2Client, input: InstanceJobInput): Promise<string> {
  if (input.instance.instanceId) {
    const zone = (await describeInstance(ec2, input.instance.instanceId)).Placement?.AvailabilityZone;
    if (zone) return zone;
  }
  if (input.instance.subnetId) {
    const { Subnets = [] } = await ec2.send(
      new DescribeSubnetsCommand({ SubnetIds: [input.instance.subnetId] }),
    );
    const zone = Subnets[0]?.AvailabilityZone;
    if (zone) return zone;
  }
  // No instance and no subnet: the volumes land in the region's first available zone (see the README).
  return firstAvailableZone(ec2, input.region);
}

async function attachAt(ec2: EC2Client, volume: Volume, instanceId: string, device: string): Promise<void> {
  const attachment = volume.Attachments?.[0];
  if (attachment?.InstanceId === instanceId && attachment.Device === device) return;
  await ec2.send(
    new AttachVolumeCommand({ VolumeId: volume.VolumeId, InstanceId: instanceId, Device: device }),
  );
}

/**
 * The launch root when no mapping names the instance's RootDeviceName (an image whose root mapping
 * names another device): the one volume the launch created, if it created exactly one.
 */
async function onlyLaunchVolume(
  ec2: EC2Client,
  restoreId: string,
  instanceId: string,
  restoredRootId: string | undefined,
): Promise<{ volumeId: string; device: string } | undefined> {
  const launched = (await findTaggedVolumes(ec2, { restoreId, step: LAUNCH_VOLUME_STEP })).filter(
    (v) => v.VolumeId !== restoredRootId && v.Attachments?.some((a) => a.InstanceId === instanceId),
  );
  const only = launched.length === 1 ? launched[0] : undefined;
  const device = only?.Attachments?.find((a) => a.InstanceId === instanceId)?.Device;
  return only?.VolumeId && device ? { volumeId: only.VolumeId, device } : undefined;
}

/**
 * Swaps the launch root volume for the restored one: detach it, attach ours in the root device slot,
 * delete it. Root volumes can only be detached from a stopped instance
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-detaching-volume.html).
 */
async function swapRootVolume(
  ec2: EC2Client,
  instance: Instance,
  restoredRoot: Volume,
  restoreId: string,
): Promise<void> {
  const instanceId = instance.InstanceId ?? '';
  const rootDevice = instance.RootDeviceName ?? '';
  const mapped = instance.BlockDeviceMappings?.find((m) => m.DeviceName === rootDevice)?.Ebs?.VolumeId;
  const launchRoot = mapped
    ? { volumeId: mapped, device: rootDevice }
    : await onlyLaunchVolume(ec2, restoreId, instanceId, restoredRoot.VolumeId);
  const current = launchRoot?.volumeId;
  if (current === restoredRoot.VolumeId) return;
  if (current) {
    // Marked first, so a crash between detach and delete leaves it to cleanup (as launch root).
    await ec2.send(
      new CreateTagsCommand({
        Resources: [current],
        Tags: [{ Key: RestoreTag.Step, Value: LAUNCH_ROOT_STEP }],
      }),
    );
    await ec2.send(
      new DetachVolumeCommand({ VolumeId: current, InstanceId: instanceId, Device: launchRoot?.device }),
    );
    await waitForVolumeState(ec2, current, 'available');
    await ec2.send(new DeleteVolumeCommand({ VolumeId: current }));
  }
  await attachAt(ec2, restoredRoot, instanceId, rootDevice);
}

/**
 * The instance step (docs/architecture.md#the-two-flows, step 3), in the target account: creates the
 * instance (or, for a volume-level restore, uses the existing one or none), creates each volume from
 * its snapshot encrypted with the target key, puts the root volume in the root device slot, attaches
 * the others at their device names, deletes the launch root volume and starts the instance when
 * asked. Re-runnable: everything it makes is tagged and found again on a retry.
 */
export async function restoreInstance(
  input: InstanceJobInput,
  snapshots: SnapshotJobResult[],
  ctx: StepContext,
): Promise<InstanceJobResult> {
  const { ec2, sts } = ctx.clients.target(input);
  const volumeLevel = input.volumes !== undefined;
  const kmsKeyArn = await resolveTargetKey(ctx, input);
  await ctx.checkpoint();

  const instance = volumeLevel ? null : await ensureStoppedInstance(ctx, input);
  const instanceId = volumeLevel ? (input.instance.instanceId ?? null) : (instance?.InstanceId ?? null);
  const availabilityZone = instance?.Placement?.AvailabilityZone ?? (await availabilityZoneFor(ec2, input));

  const userTags = { ...input.instance.tags, ...(input.instance.name ? { Name: input.instance.name } : {}) };
  const restored: Array<{ snapshot: SnapshotJobResult; volume: Volume }> = [];
  for (const snapshot of snapshots) {
    await ctx.checkpoint();
    const volume = await ensureVolume(
      { ec2, sts },
      {
        owner: { restoreId: input.restoreId, step: STEP, deviceName: snapshot.deviceName },
        availabilityZone,
        sizeGiB: snapshot.sizeGiB,
        kmsKeyArn,
        snapshotId: snapshot.snapshotId,
        ...(snapshot.kmsKeyId !== kmsKeyArn ? { snapshotKmsKeyArn: snapshot.kmsKeyId } : {}),
        volumeType: snapshot.volumeType,
        ...(snapshot.iops ? { iops: snapshot.iops } : {}),
        ...(snapshot.throughput ? { throughput: snapshot.throughput } : {}),
        clientToken: clientTokenFor(input.restoreId, STEP, snapshot.deviceName, 'create-volume'),
        extraTags: userTags,
      },
    );
    restored.push({ snapshot, volume });
  }

  const volumes: RestoredVolume[] = [];
  if (instance) {
    const rootDevice = instance.RootDeviceName ?? input.restorePoint.rootDeviceName;
    const root = restored.find((r) => r.snapshot.deviceName === input.restorePoint.rootDeviceName);
    if (!root) {
      throw new PermanentStepError(
        `the restore point's root volume ${input.restorePoint.rootDeviceName} has no snapshot; an instance needs its root volume`,
        { code: 'internal_error', category: 'internal' },
      );
    }
    await swapRootVolume(ec2, instance, root.volume, input.restoreId);
    for (const { snapshot, volume } of restored) {
      if (volume === root.volume) continue;
      await attachAt(ec2, volume, instance.InstanceId ?? '', snapshot.deviceName);
    }
    for (const { snapshot, volume } of restored) {
      const attached = await waitForVolumeState(ec2, volume.VolumeId ?? '', 'in-use');
      volumes.push({
        deviceName:
          attached.Attachments?.[0]?.Device ?? (volume === root.volume ? rootDevice : snapshot.deviceName),
        volumeId: volume.VolumeId ?? '',
        kmsKeyId: attached.KmsKeyId ?? kmsKeyArn,
        sizeGiB: attached.Size ?? snapshot.sizeGiB,
      });
    }
    if (input.instance.powerOn) {
      await ctx.checkpoint();
      await ec2.send(new StartInstancesCommand({ InstanceIds: [instance.InstanceId ?? ''] }));
    }
  } else {
    for (const { snapshot, volume } of restored) {
      let current = volume;
      if (instanceId) {
        await attachAt(ec2, volume, instanceId, snapshot.deviceName);
        current = await waitForVolumeState(ec2, volume.VolumeId ?? '', 'in-use');
      }
      volumes.push({
        deviceName: snapshot.deviceName,
        volumeId: volume.VolumeId ?? '',
        kmsKeyId: current.KmsKeyId ?? kmsKeyArn,
        sizeGiB: current.Size ?? snapshot.sizeGiB,
      });
    }
  }

  return { instanceId, accountId: input.targetAccountId, region: input.region, volumes };
}

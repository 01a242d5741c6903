import {
  type _InstanceType,
  AttachVolumeCommand,
  CreateTagsCommand,
  DeleteVolumeCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  StopInstancesCommand,
  type Volume,
  type VolumeAttachment,
} from '@aws-sdk/client-ec2';
import {
  clientTokenFor,
  type InstanceJobInput,
  JobName,
  LAUNCH_ROOT_STEP,
  LAUNCH_VOLUME_STEP,
  RestoreTag,
} from '@ec2-restore/contracts';
import {
  type LaunchFailureContext,
  waitForInstanceState,
  waitForVolumeState,
} from '../aws/instance-state.ts';
import { findBaseImage } from '../aws/launch-image.ts';
import {
  findTaggedInstances,
  findTaggedVolumes,
  restoreTags,
  tagSpecification,
} from '../aws/restore-tags.ts';
import type { StepContext } from './step-context.ts';

/**
 * `launch-and-swap` (docs/architecture.md#launch-strategies): an instance launched from an Amazon base
 * image of the restore point's platform, boot mode, architecture and billing, stopped, its root
 * volume swapped for the restored one. The billing and boot mode come from the base image, which is
 * why licensed platforms (Windows, SQL Server) restore this way.
 */

const STEP = JobName.Instance;

/**
 * The instance this restore launched (found by tag), or a new one from the base image; not waited
 * for (its Placement names the zone at once). The launch root volume is encrypted with the target
 * key, like everything the restore makes (an SCP requiring `ec2:Encrypted` would refuse it otherwise).
 */
export async function ensureLaunchedInstance(
  ctx: StepContext,
  input: InstanceJobInput,
  failure: LaunchFailureContext,
  userTags: Record<string, string>,
): Promise<Instance> {
  const { ec2, ssm } = ctx.clients.target(input);
  const owner = { restoreId: input.restoreId, step: STEP };
  const [found] = await findTaggedInstances(ec2, owner);
  if (found) return found;
  await ctx.checkpoint();
  const image = await findBaseImage(ssm, ec2, input.restorePoint);
  const tokens = input.instance.imdsHttpTokens ?? input.restorePoint.imdsHttpTokens;
  const { Instances = [] } = await ec2.send(
    new RunInstancesCommand({
      ImageId: image.ImageId,
      InstanceType: (input.instance.instanceType ?? input.restorePoint.instanceType) as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      SubnetId: input.instance.subnetId,
      SecurityGroupIds: input.instance.securityGroupIds,
      BlockDeviceMappings: [
        {
          DeviceName: image.RootDeviceName,
          Ebs: { Encrypted: true, KmsKeyId: failure.kmsKeyArn, DeleteOnTermination: true },
        },
      ],
      ...(tokens ? { MetadataOptions: { HttpTokens: tokens } } : {}),
      ClientToken: clientTokenFor(input.restoreId, STEP, 'run-instances'),
      TagSpecifications: [
        ...tagSpecification('instance', restoreTags(owner, userTags)),
        // The launch volumes carry their own step tag: cleanup removes them if the restore fails.
        ...tagSpecification('volume', restoreTags({ restoreId: input.restoreId, step: LAUNCH_VOLUME_STEP })),
      ],
    }),
  );
  const instance = Instances[0];
  if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
  return instance;
}

/** The launched instance, stopped (EC2 stops only a `running` instance: a `pending` one is waited for). */
export async function stopLaunchedInstance(
  ec2: EC2Client,
  instance: Instance,
  failure: LaunchFailureContext,
): Promise<Instance> {
  const instanceId = instance.InstanceId ?? '';
  const state = instance.State?.Name;
  if (state === 'stopped') return instance;
  if (state === 'pending') await waitForInstanceState(ec2, instanceId, 'running', failure);
  if (state !== 'stopping') await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  return waitForInstanceState(ec2, instanceId, 'stopped', failure);
}

export async function attachAt(
  ec2: EC2Client,
  volume: Volume,
  instanceId: string,
  device: string,
): Promise<void> {
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
): Promise<LaunchRoot | undefined> {
  const launched = (await findTaggedVolumes(ec2, { restoreId, step: LAUNCH_VOLUME_STEP })).filter(
    (v) => v.VolumeId !== restoredRootId && v.Attachments?.some((a) => a.InstanceId === instanceId),
  );
  const only = launched.length === 1 ? launched[0] : undefined;
  const attachment = only?.Attachments?.find((a) => a.InstanceId === instanceId);
  return only?.VolumeId && attachment ? { volumeId: only.VolumeId, attachment, marked: false } : undefined;
}

interface LaunchRoot {
  volumeId: string;
  /** Its attachment to the launched instance, while it has one. */
  attachment?: VolumeAttachment;
  /** Already tagged launch-root (by an earlier try of the swap). */
  marked: boolean;
}

/**
 * The volume the instance was launched with as its root, or undefined when the swap has nothing left
 * to remove. A retried swap may find the root slot empty (the launch root detached) or holding the
 * restored root: the launch root is then the volume the swap tagged launch-root before detaching it,
 * never the one launch volume still attached (the second volume of an image that maps two).
 */
async function findLaunchRoot(
  ec2: EC2Client,
  instance: Instance,
  restoredRoot: Volume,
  restoreId: string,
): Promise<LaunchRoot | undefined> {
  const instanceId = instance.InstanceId ?? '';
  const rootDevice = instance.RootDeviceName ?? '';
  const [marked] = await findTaggedVolumes(ec2, { restoreId, step: LAUNCH_ROOT_STEP });
  if (marked?.VolumeId) {
    const attachment = marked.Attachments?.find((a) => a.InstanceId === instanceId);
    return { volumeId: marked.VolumeId, ...(attachment ? { attachment } : {}), marked: true };
  }
  const atRoot = (a: VolumeAttachment) => a.InstanceId === instanceId && a.Device === rootDevice;
  const mapped = instance.BlockDeviceMappings?.find((m) => m.DeviceName === rootDevice)?.Ebs?.VolumeId;
  if (mapped === restoredRoot.VolumeId || restoredRoot.Attachments?.some(atRoot)) return undefined;
  if (mapped)
    return { volumeId: mapped, attachment: { InstanceId: instanceId, Device: rootDevice }, marked: false };
  return onlyLaunchVolume(ec2, restoreId, instanceId, restoredRoot.VolumeId);
}

/**
 * Swaps the launch root volume for the restored one: tag it launch-root, detach it, attach ours in the
 * root device slot, delete it. Root volumes can only be detached from a stopped instance
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-detaching-volume.html). Safe to retry after a
 * crash at any point: the tag is set before the detach and the volume deleted only once ours holds
 * the slot, so a retry finds the launch root by its tag or finds the swap done.
 */
export async function swapRootVolume(
  ec2: EC2Client,
  instance: Instance,
  restoredRoot: Volume,
  restoreId: string,
): Promise<void> {
  const instanceId = instance.InstanceId ?? '';
  const launchRoot = await findLaunchRoot(ec2, instance, restoredRoot, restoreId);
  if (launchRoot) {
    // Marked first: a crash from here on leaves it to cleanup (as launch root) and a retry finds it by the tag.
    if (!launchRoot.marked) {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [launchRoot.volumeId],
          Tags: [{ Key: RestoreTag.Step, Value: LAUNCH_ROOT_STEP }],
        }),
      );
    }
    const { attachment } = launchRoot;
    if (attachment && attachment.State !== 'detaching' && attachment.State !== 'detached') {
      await ec2.send(
        new DetachVolumeCommand({
          VolumeId: launchRoot.volumeId,
          InstanceId: instanceId,
          Device: attachment.Device,
        }),
      );
    }
    await waitForVolumeState(ec2, launchRoot.volumeId, 'available');
  }
  await attachAt(ec2, restoredRoot, instanceId, instance.RootDeviceName ?? '');
  if (launchRoot) await ec2.send(new DeleteVolumeCommand({ VolumeId: launchRoot.volumeId }));
}

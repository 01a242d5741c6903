import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { InstanceMetadataInput } from './manifest.ts';

/**
 * The boot and licensing attributes of a backed-up instance, read from EC2: what a restore needs to
 * launch an instance that boots and is billed as the original (docs/architecture.md#launch-strategies).
 */
export interface RecordedAttributes {
  instance: Partial<InstanceMetadataInput>;
  /** DeleteOnTermination of each device of the instance's block device mapping. */
  deleteOnTermination: Record<string, boolean>;
}

const BOOT_MODES = new Set(['legacy-bios', 'uefi', 'uefi-preferred']);

function billingOf(source: { PlatformDetails?: string; UsageOperation?: string }) {
  const billing = {
    ...(source.PlatformDetails ? { platformDetails: source.PlatformDetails } : {}),
    ...(source.UsageOperation ? { usageOperation: source.UsageOperation } : {}),
  };
  return Object.keys(billing).length > 0 ? { billing } : {};
}

/**
 * The attributes an image declares (DescribeImages): boot mode, ENA, IMDS support, virtualization and
 * billing (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html).
 */
export function attributesFromImage(image: Image): RecordedAttributes {
  const instance: Partial<InstanceMetadataInput> = {
    ...(image.Platform?.toLowerCase() === 'windows' ? { platform: 'windows' as const } : {}),
    ...(image.Architecture
      ? { architecture: image.Architecture as InstanceMetadataInput['architecture'] }
      : {}),
    ...(image.RootDeviceName ? { rootDeviceName: image.RootDeviceName } : {}),
    ...(image.BootMode && BOOT_MODES.has(image.BootMode)
      ? { bootMode: image.BootMode as InstanceMetadataInput['bootMode'] }
      : {}),
    ...(image.EnaSupport !== undefined ? { enaSupport: image.EnaSupport } : {}),
    // "ImdsSupport v2.0": instances launched from the image require IMDSv2 (API_RegisterImage.html).
    ...(image.ImdsSupport === 'v2.0' ? { imdsHttpTokens: 'required' as const } : {}),
    ...(image.VirtualizationType
      ? { virtualizationType: image.VirtualizationType as InstanceMetadataInput['virtualizationType'] }
      : {}),
    ...billingOf(image),
  };
  const deleteOnTermination: Record<string, boolean> = {};
  for (const mapping of image.BlockDeviceMappings ?? []) {
    if (mapping.DeviceName && mapping.Ebs?.DeleteOnTermination !== undefined)
      deleteOnTermination[mapping.DeviceName] = mapping.Ebs.DeleteOnTermination;
  }
  return { instance, deleteOnTermination };
}

/**
 * The attributes of a running or stopped instance (DescribeInstances), over those of its image: the
 * instance's own boot mode (`CurrentInstanceBootMode`, what it really booted with), IMDS setting,
 * type, network and tags win.
 */
export function attributesFromInstance(instance: Instance, image?: Image): RecordedAttributes {
  const fromImage = image ? attributesFromImage(image) : { instance: {}, deleteOnTermination: {} };
  const bootMode = instance.CurrentInstanceBootMode ?? instance.BootMode;
  const tokens = instance.MetadataOptions?.HttpTokens;
  const tags = Object.fromEntries(
    (instance.Tags ?? [])
      // `aws:` tags belong to AWS (CloudFormation, Auto Scaling) and cannot be set by a restore.
      .filter((t) => t.Key && t.Value !== undefined && !t.Key.toLowerCase().startsWith('aws:'))
      .map((t) => [t.Key as string, t.Value as string]),
  );
  const groups = (instance.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : []));
  const recorded: Partial<InstanceMetadataInput> = {
    ...fromImage.instance,
    ...(instance.InstanceType ? { instanceType: instance.InstanceType } : {}),
    platform: instance.Platform?.toLowerCase() === 'windows' ? 'windows' : 'linux',
    ...(instance.Architecture
      ? { architecture: instance.Architecture as InstanceMetadataInput['architecture'] }
      : {}),
    ...(instance.RootDeviceName ? { rootDeviceName: instance.RootDeviceName } : {}),
    ...(bootMode && BOOT_MODES.has(bootMode)
      ? { bootMode: bootMode as InstanceMetadataInput['bootMode'] }
      : {}),
    ...(instance.EnaSupport !== undefined ? { enaSupport: instance.EnaSupport } : {}),
    ...(tokens === 'required' || tokens === 'optional' ? { imdsHttpTokens: tokens } : {}),
    ...(instance.VirtualizationType
      ? { virtualizationType: instance.VirtualizationType as InstanceMetadataInput['virtualizationType'] }
      : {}),
    ...billingOf(instance),
    network: {
      securityGroupIds: groups,
      ...(instance.VpcId ? { vpcId: instance.VpcId } : {}),
      ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
      ...(instance.Placement?.AvailabilityZone
        ? { availabilityZone: instance.Placement.AvailabilityZone }
        : {}),
      ...(instance.PrivateIpAddress ? { privateIpAddress: instance.PrivateIpAddress } : {}),
    },
    tags,
  };
  const deleteOnTermination = { ...fromImage.deleteOnTermination };
  for (const mapping of instance.BlockDeviceMappings ?? []) {
    if (mapping.DeviceName && mapping.Ebs?.DeleteOnTermination !== undefined)
      deleteOnTermination[mapping.DeviceName] = mapping.Ebs.DeleteOnTermination;
  }
  return { instance: recorded, deleteOnTermination };
}

async function describeImage(ec2: EC2Client, imageId: string): Promise<Image | undefined> {
  try {
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return Images[0];
  } catch {
    // The image may be deregistered (or private to another account): the instance's own answer suffices.
    return undefined;
  }
}

/** DescribeInstances of the backed-up instance and DescribeImages of its image. */
export async function readInstanceAttributes(
  ec2: EC2Client,
  instanceId: string,
): Promise<RecordedAttributes> {
  const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = Reservations[0]?.Instances?.[0];
  if (!instance) throw new Error(`instance ${instanceId} is not visible to these credentials`);
  const image = instance.ImageId ? await describeImage(ec2, instance.ImageId) : undefined;
  return attributesFromInstance(instance, image);
}

/**
 * The image registered from a root snapshot, if any (an image-level backup such as AWS Backup's is an
 * image over its snapshots): DescribeImages filtered by `block-device-mapping.snapshot-id`.
 */
export async function readImageOfSnapshot(
  ec2: EC2Client,
  snapshotId: string,
): Promise<RecordedAttributes | undefined> {
  const { Images = [] } = await ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [{ Name: 'block-device-mapping.snapshot-id', Values: [snapshotId] }],
    }),
  );
  const image = [...Images].sort((a, b) => (a.ImageId ?? '').localeCompare(b.ImageId ?? ''))[0];
  return image ? attributesFromImage(image) : undefined;
}

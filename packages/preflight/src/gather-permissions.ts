import { getMaxListeners, setMaxListeners } from 'node:events';
import {
  AttachVolumeCommand,
  CopySnapshotCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DeregisterImageCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  DetachVolumeCommand,
  type EC2Client,
  GetEbsDefaultKmsKeyIdCommand,
  GetEbsEncryptionByDefaultCommand,
  ModifyInstanceAttributeCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { DryRunFact } from './facts.ts';

/*
 * EC2's DryRun: "Checks whether you have the required permissions for the action, without actually
 * making the request" - `DryRunOperation` when allowed, `UnauthorizedOperation` when not
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html). The ids below are
 * well formed but name nothing: where AWS looks the resource up before it checks the permission,
 * the answer is some other error, recorded as inconclusive (the checks then evaluate the IAM
 * policies instead).
 */

const NOTHING = {
  volume: 'vol-0000000000000000f',
  instance: 'i-0000000000000000f',
  snapshot: 'snap-0000000000000000f',
  image: 'ami-0000000000000000f',
};

/** Options of each call (the plan's deadline aborts it). */
type Http = { abortSignal?: AbortSignal };
/** The DryRun command of an action in a region, or in a zone of it (its answer's type does not matter here). */
type Probe = (place: { region: string; zone: string }) => { input: unknown };
type AnyEc2Command = Parameters<EC2Client['send']>[0];

/** The probes that name a zone: only they wait for one (probeZone). */
const zonal = new Set(['ec2:CreateVolume']);

// One probe per EC2 action the steps call (step-actions.ts), each with DryRun set.
const probes: Record<string, Probe> = {
  'ec2:AttachVolume': () =>
    new AttachVolumeCommand({
      DryRun: true,
      VolumeId: NOTHING.volume,
      InstanceId: NOTHING.instance,
      Device: '/dev/sdf',
    }),
  'ec2:CopySnapshot': ({ region }) =>
    new CopySnapshotCommand({
      DryRun: true,
      SourceSnapshotId: NOTHING.snapshot,
      SourceRegion: region,
      Encrypted: true,
    }),
  'ec2:CreateSnapshot': () => new CreateSnapshotCommand({ DryRun: true, VolumeId: NOTHING.volume }),
  'ec2:CreateTags': () =>
    new CreateTagsCommand({
      DryRun: true,
      Resources: [NOTHING.volume],
      Tags: [{ Key: 'ec2-restore:preflight', Value: 'dry-run' }],
    }),
  'ec2:CreateVolume': ({ zone }) =>
    new CreateVolumeCommand({ DryRun: true, AvailabilityZone: zone, Size: 1, VolumeType: 'gp3' }),
  'ec2:DeleteSnapshot': () => new DeleteSnapshotCommand({ DryRun: true, SnapshotId: NOTHING.snapshot }),
  'ec2:DeleteVolume': () => new DeleteVolumeCommand({ DryRun: true, VolumeId: NOTHING.volume }),
  'ec2:DeregisterImage': () => new DeregisterImageCommand({ DryRun: true, ImageId: NOTHING.image }),
  'ec2:DescribeAvailabilityZones': () => new DescribeAvailabilityZonesCommand({ DryRun: true }),
  'ec2:DescribeImages': () => new DescribeImagesCommand({ DryRun: true, Owners: ['amazon'], MaxResults: 5 }),
  'ec2:DescribeInstances': () => new DescribeInstancesCommand({ DryRun: true, MaxResults: 5 }),
  'ec2:DescribeInstanceTypes': () => new DescribeInstanceTypesCommand({ DryRun: true, MaxResults: 5 }),
  'ec2:DescribeSecurityGroups': () => new DescribeSecurityGroupsCommand({ DryRun: true, MaxResults: 5 }),
  'ec2:DescribeSnapshotAttribute': () =>
    new DescribeSnapshotAttributeCommand({
      DryRun: true,
      SnapshotId: NOTHING.snapshot,
      Attribute: 'createVolumePermission',
    }),
  'ec2:DescribeSnapshots': () =>
    new DescribeSnapshotsCommand({ DryRun: true, OwnerIds: ['self'], MaxResults: 5 }),
  'ec2:DescribeSubnets': () => new DescribeSubnetsCommand({ DryRun: true, MaxResults: 5 }),
  'ec2:DescribeVolumes': () => new DescribeVolumesCommand({ DryRun: true, MaxResults: 5 }),
  'ec2:DescribeVpcs': () => new DescribeVpcsCommand({ DryRun: true, MaxResults: 5 }),
  'ec2:DetachVolume': () => new DetachVolumeCommand({ DryRun: true, VolumeId: NOTHING.volume }),
  'ec2:GetEbsDefaultKmsKeyId': () => new GetEbsDefaultKmsKeyIdCommand({ DryRun: true }),
  'ec2:GetEbsEncryptionByDefault': () => new GetEbsEncryptionByDefaultCommand({ DryRun: true }),
  'ec2:ModifyInstanceAttribute': () =>
    new ModifyInstanceAttributeCommand({
      DryRun: true,
      InstanceId: NOTHING.instance,
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true } }],
    }),
  'ec2:ModifySnapshotAttribute': () =>
    new ModifySnapshotAttributeCommand({
      DryRun: true,
      SnapshotId: NOTHING.snapshot,
      Attribute: 'createVolumePermission',
      CreateVolumePermission: { Add: [{ UserId: '000000000000' }] },
    }),
  'ec2:RegisterImage': () =>
    new RegisterImageCommand({
      DryRun: true,
      Name: 'ec2-restore-preflight-dry-run',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: NOTHING.snapshot } }],
    }),
  'ec2:RunInstances': () =>
    new RunInstancesCommand({
      DryRun: true,
      ImageId: NOTHING.image,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
    }),
  'ec2:StartInstances': () => new StartInstancesCommand({ DryRun: true, InstanceIds: [NOTHING.instance] }),
  'ec2:StopInstances': () => new StopInstancesCommand({ DryRun: true, InstanceIds: [NOTHING.instance] }),
  'ec2:TerminateInstances': () =>
    new TerminateInstancesCommand({ DryRun: true, InstanceIds: [NOTHING.instance] }),
};

/** The EC2 actions the pre-flight can try with DryRun. */
export function dryRunnableActions(): string[] {
  return Object.keys(probes).sort();
}

/** What one DryRun answer says about the permission. */
export function dryRunOutcome(error: unknown): DryRunFact {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: string;
    Code?: string;
    message?: string;
  };
  const code = e.Code ?? e.name ?? 'Error';
  const message = e.message ?? String(error);
  if (code === 'DryRunOperation') return { outcome: 'allowed', code };
  if (code === 'UnauthorizedOperation' || code === 'AccessDenied' || code === 'AccessDeniedException')
    return { outcome: 'denied', code, message };
  return { outcome: 'inconclusive', code, message };
}

/** The abort listeners one EC2 call may hold on its signal while in flight. */
const LISTENERS_PER_CALL = 3;

/**
 * Tries each EC2 action with DryRun as the clients' principal, all at once (each is one request) in
 * `place.region`. `place.zone` is asked (once) for a zone of the region only by a probe that names
 * one (CreateVolume), so the others do not wait for it.
 */
export async function probeWithDryRun(
  ec2: EC2Client,
  actions: readonly string[],
  place: { region: string; zone: () => Promise<string> },
  http: Http = {},
): Promise<Record<string, DryRunFact>> {
  const wanted = [...new Set(actions)].filter((action) => probes[action] !== undefined);
  const signal = http.abortSignal;
  if (signal) {
    // All the probes share the one signal, each call in flight listening on it up to three times (the
    // SDK's retry, its HTTP handler, the EC2 call budget's wait) until it ends: room for them, so
    // Node's leak warning keeps meaning a leak.
    setMaxListeners(Math.max(getMaxListeners(signal), wanted.length * LISTENERS_PER_CALL + 10), signal);
  }
  let zone: Promise<string> | undefined;
  const zoneOnce = () => {
    zone ??= place.zone();
    return zone;
  };
  const answers = await Promise.all(
    wanted.map(async (action): Promise<[string, DryRunFact]> => {
      try {
        const where = { region: place.region, zone: zonal.has(action) ? await zoneOnce() : '' };
        await ec2.send(probes[action]!(where) as AnyEc2Command, http);
        // A call that succeeded although DryRun was set: the permission is there.
        return [action, { outcome: 'allowed', code: 'Succeeded' }];
      } catch (error) {
        if (http.abortSignal?.aborted) throw error;
        return [action, dryRunOutcome(error)];
      }
    }),
  );
  return Object.fromEntries(answers);
}

/** A zone of the region to name in the CreateVolume probe: the first available one, else `<region>a`. */
export async function probeZone(ec2: EC2Client, region: string, http: Http = {}): Promise<string> {
  try {
    const { AvailabilityZones = [] } = await ec2.send(
      new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'state', Values: ['available'] }] }),
      http,
    );
    return AvailabilityZones.flatMap((z) => (z.ZoneName ? [z.ZoneName] : [])).sort()[0] ?? `${region}a`;
  } catch {
    return `${region}a`;
  }
}

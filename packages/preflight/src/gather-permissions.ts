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
type Probe = (zone: string) => { send(ec2: EC2Client, http: Http): Promise<unknown> };

const probe =
  <T>(make: (zone: string) => T, send: (ec2: EC2Client, command: T, http: Http) => Promise<unknown>): Probe =>
  (zone) => ({ send: (ec2, http) => send(ec2, make(zone), http) });

// One probe per EC2 action the steps call (step-actions.ts), each with DryRun set.
const probes: Record<string, Probe> = {
  'ec2:AttachVolume': probe(
    () =>
      new AttachVolumeCommand({
        DryRun: true,
        VolumeId: NOTHING.volume,
        InstanceId: NOTHING.instance,
        Device: '/dev/sdf',
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:CopySnapshot': probe(
    (zone) =>
      new CopySnapshotCommand({
        DryRun: true,
        SourceSnapshotId: NOTHING.snapshot,
        SourceRegion: zone.replace(/[a-z]$/, ''),
        Encrypted: true,
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:CreateSnapshot': probe(
    () => new CreateSnapshotCommand({ DryRun: true, VolumeId: NOTHING.volume }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:CreateTags': probe(
    () =>
      new CreateTagsCommand({
        DryRun: true,
        Resources: [NOTHING.volume],
        Tags: [{ Key: 'ec2-restore:preflight', Value: 'dry-run' }],
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:CreateVolume': probe(
    (zone) => new CreateVolumeCommand({ DryRun: true, AvailabilityZone: zone, Size: 1, VolumeType: 'gp3' }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DeleteSnapshot': probe(
    () => new DeleteSnapshotCommand({ DryRun: true, SnapshotId: NOTHING.snapshot }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DeleteVolume': probe(
    () => new DeleteVolumeCommand({ DryRun: true, VolumeId: NOTHING.volume }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DeregisterImage': probe(
    () => new DeregisterImageCommand({ DryRun: true, ImageId: NOTHING.image }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeAvailabilityZones': probe(
    () => new DescribeAvailabilityZonesCommand({ DryRun: true }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeImages': probe(
    () => new DescribeImagesCommand({ DryRun: true, Owners: ['amazon'], MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeInstances': probe(
    () => new DescribeInstancesCommand({ DryRun: true, MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeInstanceTypes': probe(
    () => new DescribeInstanceTypesCommand({ DryRun: true, MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeSecurityGroups': probe(
    () => new DescribeSecurityGroupsCommand({ DryRun: true, MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeSnapshotAttribute': probe(
    () =>
      new DescribeSnapshotAttributeCommand({
        DryRun: true,
        SnapshotId: NOTHING.snapshot,
        Attribute: 'createVolumePermission',
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeSnapshots': probe(
    () => new DescribeSnapshotsCommand({ DryRun: true, OwnerIds: ['self'], MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeSubnets': probe(
    () => new DescribeSubnetsCommand({ DryRun: true, MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeVolumes': probe(
    () => new DescribeVolumesCommand({ DryRun: true, MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DescribeVpcs': probe(
    () => new DescribeVpcsCommand({ DryRun: true, MaxResults: 5 }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:DetachVolume': probe(
    () => new DetachVolumeCommand({ DryRun: true, VolumeId: NOTHING.volume }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:GetEbsDefaultKmsKeyId': probe(
    () => new GetEbsDefaultKmsKeyIdCommand({ DryRun: true }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:GetEbsEncryptionByDefault': probe(
    () => new GetEbsEncryptionByDefaultCommand({ DryRun: true }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:ModifyInstanceAttribute': probe(
    () =>
      new ModifyInstanceAttributeCommand({
        DryRun: true,
        InstanceId: NOTHING.instance,
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true } }],
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:ModifySnapshotAttribute': probe(
    () =>
      new ModifySnapshotAttributeCommand({
        DryRun: true,
        SnapshotId: NOTHING.snapshot,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Add: [{ UserId: '000000000000' }] },
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:RegisterImage': probe(
    () =>
      new RegisterImageCommand({
        DryRun: true,
        Name: 'ec2-restore-preflight-dry-run',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: NOTHING.snapshot } }],
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:RunInstances': probe(
    () =>
      new RunInstancesCommand({
        DryRun: true,
        ImageId: NOTHING.image,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
      }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:StartInstances': probe(
    () => new StartInstancesCommand({ DryRun: true, InstanceIds: [NOTHING.instance] }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:StopInstances': probe(
    () => new StopInstancesCommand({ DryRun: true, InstanceIds: [NOTHING.instance] }),
    (ec2, c, http) => ec2.send(c, http),
  ),
  'ec2:TerminateInstances': probe(
    () => new TerminateInstancesCommand({ DryRun: true, InstanceIds: [NOTHING.instance] }),
    (ec2, c, http) => ec2.send(c, http),
  ),
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

/**
 * Tries each EC2 action with DryRun as the clients' principal, all at once (each is one request).
 * `zone` is a zone of the region for CreateVolume.
 */
export async function probeWithDryRun(
  ec2: EC2Client,
  actions: readonly string[],
  zone: string,
  http: Http = {},
): Promise<Record<string, DryRunFact>> {
  const wanted = [...new Set(actions)].filter((action) => probes[action] !== undefined);
  const answers = await Promise.all(
    wanted.map(async (action): Promise<[string, DryRunFact]> => {
      try {
        await probes[action]!(zone).send(ec2, http);
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

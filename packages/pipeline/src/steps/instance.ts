import {
  DescribeAvailabilityZonesCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  type Instance,
  ModifyInstanceAttributeCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import {
  chooseLaunchStrategy,
  clientTokenFor,
  type InstanceJobInput,
  type InstanceJobResult,
  JobName,
  type LaunchStrategy,
  type RestoredVolume,
  type SnapshotJobResult,
} from '@ec2-restore/contracts';
import { ensureVolume } from '../aws/ensure-volume.ts';
import {
  allSettledOrThrow,
  describeInstance,
  type LaunchFailureContext,
  waitForInstanceState,
  waitForVolumesState,
} from '../aws/instance-state.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { attachAt, ensureLaunchedInstance, stopLaunchedInstance, swapRootVolume } from './launch-and-swap.ts';
import { deleteOnTerminationOf, launchFromRegisteredImage } from './register-image.ts';
import type { StepContext } from './step-context.ts';

const STEP = JobName.Instance;

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

/** The request's tags over the restore point's, and the Name the request gives. */
function userTagsOf(input: InstanceJobInput): Record<string, string> {
  return {
    ...input.restorePoint.tags,
    ...input.instance.tags,
    ...(input.instance.name ? { Name: input.instance.name } : {}),
  };
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

/** The restored volumes as attached to the instance: device, id, key and size. */
async function attachedVolumes(
  ec2: EC2Client,
  instance: Instance,
  kmsKeyArn: string,
  signal?: AbortSignal,
): Promise<RestoredVolume[]> {
  const mapped = (instance.BlockDeviceMappings ?? []).flatMap((m) =>
    m.Ebs?.VolumeId ? [{ deviceName: m.DeviceName, volumeId: m.Ebs.VolumeId }] : [],
  );
  const attached = await waitForVolumesState(
    ec2,
    mapped.map((m) => m.volumeId),
    'in-use',
    signal,
  );
  return mapped.map(({ deviceName, volumeId }, i) => ({
    deviceName: deviceName ?? attached[i]?.Attachments?.[0]?.Device ?? '',
    volumeId,
    kmsKeyId: attached[i]?.KmsKeyId ?? kmsKeyArn,
    sizeGiB: attached[i]?.Size ?? 1,
  }));
}

/** What a launch strategy works with: the step, its input, the snapshots, the target key. */
interface Launch {
  ctx: StepContext;
  input: InstanceJobInput;
  snapshots: SnapshotJobResult[];
  kmsKeyArn: string;
  failure: LaunchFailureContext;
}

/** What a launch strategy made: the instance and its restored volumes, attached. */
interface Launched {
  instance: Instance;
  volumes: RestoredVolume[];
}

/**
 * `register-image`: launched from the temporary image, every volume mapped; RunInstances starts it,
 * so it is stopped again unless the request asked for it running. The volumes mapped at launch are
 * waited for (`in-use`, attached) while it stops.
 */
async function restoreFromImage(launch: Launch): Promise<Launched> {
  const { ctx, input, snapshots, kmsKeyArn, failure } = launch;
  const { ec2 } = ctx.clients.target(input);
  const launched = await launchFromRegisteredImage(ctx, input, snapshots, kmsKeyArn, userTagsOf(input));
  const instanceId = launched.InstanceId ?? '';
  const state = launched.State?.Name;
  const running =
    state === 'pending' || state === undefined
      ? await waitForInstanceState(ec2, instanceId, 'running', failure)
      : launched;
  const stop = async (): Promise<Instance> => {
    if (input.instance.powerOn || running.State?.Name === 'stopped') return running;
    if (running.State?.Name === 'running') {
      await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    }
    return waitForInstanceState(ec2, instanceId, 'stopped', failure);
  };
  // An instance EC2 ends while it stops fails the step at once: the volume wait stops too.
  const stopFailed = new AbortController();
  const stopping = stop().catch((error: unknown) => {
    stopFailed.abort();
    throw error;
  });
  const [instance, volumes] = await allSettledOrThrow([
    stopping,
    attachedVolumes(ec2, running, kmsKeyArn, stopFailed.signal),
  ]);
  return { instance, volumes };
}

/**
 * Creates the volumes from their snapshots at once (their `creating` waits overlap), each encrypted
 * with the target key (found again by tag on a retry).
 */
async function createVolumes(
  ctx: StepContext,
  input: InstanceJobInput,
  snapshots: SnapshotJobResult[],
  kmsKeyArn: string,
  availabilityZone: string,
): Promise<Array<{ snapshot: SnapshotJobResult; volume: Volume }>> {
  const { ec2, sts } = ctx.clients.target(input);
  await ctx.checkpoint();
  const create = async (snapshot: SnapshotJobResult) => {
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
        extraTags: userTagsOf(input),
      },
    );
    return { snapshot, volume };
  };
  return allSettledOrThrow(snapshots.map(create));
}

/**
 * `launch-and-swap`: the base image's instance, stopped, the restored root volume in its root slot,
 * the others at their devices, DeleteOnTermination as recorded (an attached volume's is false).
 */
async function restoreBySwap(launch: Launch): Promise<Launched> {
  const { ctx, input, snapshots, kmsKeyArn, failure } = launch;
  const { ec2 } = ctx.clients.target(input);
  const launched = await ensureLaunchedInstance(ctx, input, failure, userTagsOf(input));
  const instanceId = launched.InstanceId ?? '';
  const zone = launched.Placement?.AvailabilityZone ?? (await availabilityZoneFor(ec2, input));
  // The volumes are created while the instance starts and stops (RunInstances names its zone at once).
  const [instance, restored] = await allSettledOrThrow([
    stopLaunchedInstance(ec2, launched, failure),
    createVolumes(ctx, input, snapshots, kmsKeyArn, zone),
  ]);
  const root = restored.find((r) => r.snapshot.deviceName === input.restorePoint.rootDeviceName);
  if (!root) {
    throw new PermanentStepError(
      `the restore point's root volume ${input.restorePoint.rootDeviceName} has no snapshot; an instance needs its root volume`,
      { code: 'internal_error', category: 'internal' },
    );
  }
  // The root swap and the other attachments at once, then one wait for all of them.
  await allSettledOrThrow([
    swapRootVolume(ec2, instance, root.volume, input.restoreId),
    ...restored
      .filter(({ volume }) => volume !== root.volume)
      .map(({ snapshot, volume }) => attachAt(ec2, volume, instanceId, snapshot.deviceName)),
  ]);
  await waitForVolumesState(
    ec2,
    restored.map(({ volume }) => volume.VolumeId ?? ''),
    'in-use',
  );
  const rootDevice = instance.RootDeviceName ?? input.restorePoint.rootDeviceName;
  await ec2.send(
    new ModifyInstanceAttributeCommand({
      InstanceId: instanceId,
      BlockDeviceMappings: restored.map(({ snapshot, volume }) => ({
        DeviceName: volume === root.volume ? rootDevice : snapshot.deviceName,
        Ebs: {
          VolumeId: volume.VolumeId,
          DeleteOnTermination: deleteOnTerminationOf(input, snapshot.deviceName),
        },
      })),
    }),
  );
  if (input.instance.powerOn) {
    await ctx.checkpoint();
    await ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  }
  const swapped = await describeInstance(ec2, instanceId);
  return { instance: swapped, volumes: await attachedVolumes(ec2, swapped, kmsKeyArn) };
}

/** A volume-level restore: the volumes, attached to the given instance or to none. */
async function restoreVolumesOnly(
  ctx: StepContext,
  input: InstanceJobInput,
  snapshots: SnapshotJobResult[],
  kmsKeyArn: string,
): Promise<RestoredVolume[]> {
  const { ec2 } = ctx.clients.target(input);
  const instanceId = input.instance.instanceId;
  const zone = await availabilityZoneFor(ec2, input);
  const created = await createVolumes(ctx, input, snapshots, kmsKeyArn, zone);
  let current = created.map(({ volume }) => volume);
  if (instanceId) {
    await allSettledOrThrow(
      created.map(({ snapshot, volume }) => attachAt(ec2, volume, instanceId, snapshot.deviceName)),
    );
    current = await waitForVolumesState(
      ec2,
      created.map(({ volume }) => volume.VolumeId ?? ''),
      'in-use',
    );
  }
  return created.map(({ snapshot, volume }, i) => ({
    deviceName: snapshot.deviceName,
    volumeId: volume.VolumeId ?? '',
    kmsKeyId: current[i]?.KmsKeyId ?? kmsKeyArn,
    sizeGiB: current[i]?.Size ?? snapshot.sizeGiB,
  }));
}

/**
 * The instance step (docs/architecture.md#the-two-flows, step 3), in the target account: launches the
 * instance with the launch strategy the restore point calls for (docs/architecture.md#launch-strategies),
 * every volume encrypted with the target key, or for a volume-level restore creates the volumes and
 * attaches them to the existing instance (or none). A launch EC2 ends on its own fails for good with
 * its StateReason. Re-runnable: everything it makes is tagged and found again on a retry.
 */
export async function restoreInstance(
  input: InstanceJobInput,
  snapshots: SnapshotJobResult[],
  ctx: StepContext,
): Promise<InstanceJobResult> {
  const kmsKeyArn = await resolveTargetKey(ctx, input);
  await ctx.checkpoint();
  const result = { accountId: input.targetAccountId, region: input.region };
  if (input.volumes !== undefined) {
    const volumes = await restoreVolumesOnly(ctx, input, snapshots, kmsKeyArn);
    return { ...result, instanceId: input.instance.instanceId ?? null, volumes };
  }
  const failure: LaunchFailureContext = {
    kmsKeyArn,
    principal: input.roleArn ?? `the worker role of account ${input.targetAccountId}`,
  };
  const strategy: LaunchStrategy = chooseLaunchStrategy(
    input.restorePoint,
    input.instance.launchStrategy,
  ).strategy;
  const launch: Launch = { ctx, input, snapshots, kmsKeyArn, failure };
  const { instance, volumes } =
    strategy === 'register-image' ? await restoreFromImage(launch) : await restoreBySwap(launch);
  return { ...result, instanceId: instance.InstanceId ?? null, volumes, launchStrategy: strategy };
}

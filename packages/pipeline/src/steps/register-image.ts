import {
  type _InstanceType,
  type BlockDeviceMapping,
  CopySnapshotCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  type Image,
  type Instance,
  RegisterImageCommand,
  RunInstancesCommand,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { isNewResourceNotFound } from '@ec2-restore/aws-clients';
import { restoreFilters } from '@ec2-restore/aws-resources';
import {
  clientTokenFor,
  IMAGE_STEP,
  type InstanceJobInput,
  JobName,
  type SnapshotJobResult,
} from '@ec2-restore/contracts';
import { allSettledOrThrow } from '../aws/instance-state.ts';
import { pollUntil, quickLooksWithin } from '../aws/poll.ts';
import {
  findTaggedInstances,
  findTaggedSnapshots,
  restoreTags,
  tagSpecification,
} from '../aws/restore-tags.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import type { StepContext } from './step-context.ts';

const SHORT_WAIT_MS = 20_000;
const RECHECK_MS = 10_000;

/** DeleteOnTermination as recorded; a restore point without it: the root true, the others false (EC2's defaults). */
export function deleteOnTerminationOf(input: InstanceJobInput, deviceName: string): boolean {
  return (
    input.restorePoint.deleteOnTermination?.[deviceName] ?? deviceName === input.restorePoint.rootDeviceName
  );
}

/**
 * A snapshot of the root volume that the target account owns, as RegisterImage needs: the same
 * account's written snapshot, or for another account a CopySnapshot of the shared one encrypted
 * with the target key (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-copy-snapshot.html).
 */
async function targetOwnedRootSnapshot(
  ec2: EC2Client,
  input: InstanceJobInput,
  root: SnapshotJobResult,
  kmsKeyArn: string,
): Promise<string> {
  if (input.mode === 'same-account') return root.snapshotId;
  const owner = { restoreId: input.restoreId, step: IMAGE_STEP, deviceName: root.deviceName };
  let [copy] = await findTaggedSnapshots(ec2, owner);
  if (!copy) {
    const copyShared = () =>
      ec2.send(
        new CopySnapshotCommand({
          SourceSnapshotId: root.snapshotId,
          SourceRegion: input.region,
          Encrypted: true,
          KmsKeyId: kmsKeyArn,
          Description: `ec2-restore ${input.restoreId}: root volume for the restored instance's image`,
          TagSpecifications: tagSpecification('snapshot', restoreTags(owner)),
        }),
      );
    // The share step has just shared the snapshot: the target account may not see it for a moment
    // (InvalidSnapshot.NotFound, eventual consistency), which is "not yet", not a failed attempt.
    // Nothing is copied on NotFound, so asking again makes one copy. Still not found after the
    // bound: the call once more, whose error fails the attempt as any other.
    const copied = await pollUntil(copyShared, {
      timeoutMs: SHORT_WAIT_MS,
      intervalMs: 1000,
      quickLooks: quickLooksWithin(ec2, 'CopySnapshot'),
    });
    copy = { SnapshotId: (copied ?? (await copyShared())).SnapshotId };
  }
  const copyId = copy.SnapshotId ?? '';
  const done = await pollUntil(
    async () => {
      try {
        const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [copyId] }));
        const state = Snapshots[0]?.State;
        if (state === 'error') {
          throw new PermanentStepError(
            `the copy ${copyId} of the root snapshot ${root.snapshotId} ended in the error state: the restore role could not use ${root.kmsKeyId} (the shared snapshot's key) or ${kmsKeyArn} (the target key); both key policies must let it use them`,
            { code: 'kms_key_unusable', category: 'kms' },
          );
        }
        return state === 'completed' ? copyId : undefined;
      } catch (error) {
        if (isNewResourceNotFound(error)) return undefined;
        throw error;
      }
    },
    { timeoutMs: SHORT_WAIT_MS, intervalMs: 1000, quickLooks: quickLooksWithin(ec2, 'DescribeSnapshots') },
  );
  if (!done) throw new StepPendingError(`root snapshot copy ${copyId} to complete`, RECHECK_MS);
  return done;
}

async function findImage(ec2: EC2Client, restoreId: string): Promise<Image | undefined> {
  const { Images = [] } = await ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: restoreFilters({ restoreId, step: IMAGE_STEP }) }),
  );
  return Images.find((i) => i.State !== 'deregistered');
}

/**
 * The temporary image of the restore: the root snapshot with the recorded architecture, boot mode,
 * ENA, IMDS and virtualization (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html).
 * Unrecorded attributes are left to EC2's defaults (boot mode: the instance type's).
 */
async function ensureImage(
  ec2: EC2Client,
  input: InstanceJobInput,
  root: SnapshotJobResult,
  rootSnapshotId: string,
  earlier: Image | undefined,
): Promise<string> {
  const recorded = input.restorePoint;
  let image = earlier;
  if (!image) {
    const { ImageId } = await ec2.send(
      new RegisterImageCommand({
        Name: `ec2-restore-${input.restoreId}`,
        Description: `ec2-restore ${input.restoreId}: temporary image of restore point ${input.restorePointId}`,
        Architecture: recorded.architecture,
        RootDeviceName: recorded.rootDeviceName,
        VirtualizationType: recorded.virtualizationType ?? 'hvm',
        ...(recorded.bootMode ? { BootMode: recorded.bootMode } : {}),
        // Not recorded (an older restore point): ENA on, as on every current instance type; EC2 refuses
        // an image without it on the many types that require it (the instance.ena check warns).
        EnaSupport: recorded.enaSupport ?? true,
        ...(recorded.imdsHttpTokens === 'required' ? { ImdsSupport: 'v2.0' } : {}),
        BlockDeviceMappings: [
          {
            DeviceName: recorded.rootDeviceName,
            Ebs: {
              SnapshotId: rootSnapshotId,
              VolumeSize: root.sizeGiB,
              VolumeType: root.volumeType as VolumeType,
              DeleteOnTermination: deleteOnTerminationOf(input, root.deviceName),
            },
          },
        ],
        TagSpecifications: tagSpecification(
          'image',
          restoreTags({ restoreId: input.restoreId, step: IMAGE_STEP }),
        ),
      }),
    );
    image = { ImageId, State: 'pending' };
  }
  const imageId = image.ImageId ?? '';
  if (image.State === 'available') return imageId;
  const ready = await pollUntil(
    async () => {
      // By id: a new image id answers InvalidAMIID.NotFound for a while (pollUntil's "not yet"), and
      // RunInstances may only name it once it is visible.
      const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
      const found = Images[0];
      if (found?.State === 'failed' || found?.State === 'error') {
        throw new PermanentStepError(
          `image ${imageId} registered from ${rootSnapshotId} failed: ${found.StateReason?.Message ?? 'no reason given'}`,
          { code: 'instance_launch_failed', category: 'aws' },
        );
      }
      return found?.State === 'available' ? imageId : undefined;
    },
    { timeoutMs: SHORT_WAIT_MS, intervalMs: 1000, quickLooks: quickLooksWithin(ec2, 'DescribeImages') },
  );
  if (!ready) throw new StepPendingError(`image ${imageId} to be available`, RECHECK_MS);
  return ready;
}

/**
 * One mapping per restored volume, each encrypted with the target key and DeleteOnTermination as
 * recorded. The root mapping names no snapshot: it overrides the image's root mapping, whose snapshot
 * RunInstances may not change ("block device mapping of the AMI ... overridden",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html).
 */
function blockDeviceMappings(
  input: InstanceJobInput,
  snapshots: SnapshotJobResult[],
  kmsKeyArn: string,
): BlockDeviceMapping[] {
  return snapshots.map((snapshot) => ({
    DeviceName: snapshot.deviceName,
    Ebs: {
      ...(snapshot.deviceName === input.restorePoint.rootDeviceName
        ? {}
        : { SnapshotId: snapshot.snapshotId }),
      Encrypted: true,
      KmsKeyId: kmsKeyArn,
      DeleteOnTermination: deleteOnTerminationOf(input, snapshot.deviceName),
      VolumeSize: snapshot.sizeGiB,
      VolumeType: snapshot.volumeType as VolumeType,
      ...(snapshot.iops ? { Iops: snapshot.iops } : {}),
      ...(snapshot.throughput ? { Throughput: snapshot.throughput } : {}),
    },
  }));
}

/**
 * `register-image`: the instance launched from an image of the restored root, every volume mapped at
 * launch (so the first boot sees them all). Returns the instance as RunInstances or the tag search
 * found it; the caller waits for it.
 */
export async function launchFromRegisteredImage(
  ctx: StepContext,
  input: InstanceJobInput,
  snapshots: SnapshotJobResult[],
  kmsKeyArn: string,
  userTags: Record<string, string>,
): Promise<Instance> {
  const { ec2 } = ctx.clients.target(input);
  const owner = { restoreId: input.restoreId, step: JobName.Instance };
  const [existing] = await findTaggedInstances(ec2, owner);
  if (existing) return existing;
  const root = snapshots.find((s) => s.deviceName === input.restorePoint.rootDeviceName);
  if (!root) {
    throw new PermanentStepError(
      `the restore point's root volume ${input.restorePoint.rootDeviceName} has no snapshot; an instance needs its root volume`,
      { code: 'internal_error', category: 'internal' },
    );
  }
  // An image an earlier attempt registered is looked for while the root snapshot is copied.
  const [rootSnapshotId, earlierImage] = await allSettledOrThrow([
    targetOwnedRootSnapshot(ec2, input, root, kmsKeyArn),
    findImage(ec2, input.restoreId),
  ] as const);
  await ctx.checkpoint();
  const imageId = await ensureImage(ec2, input, root, rootSnapshotId, earlierImage);
  await ctx.checkpoint();
  const tokens = input.instance.imdsHttpTokens ?? input.restorePoint.imdsHttpTokens;
  const { Instances = [] } = await ec2.send(
    new RunInstancesCommand({
      ImageId: imageId,
      InstanceType: (input.instance.instanceType ?? input.restorePoint.instanceType) as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      SubnetId: input.instance.subnetId,
      SecurityGroupIds: input.instance.securityGroupIds,
      BlockDeviceMappings: blockDeviceMappings(input, snapshots, kmsKeyArn),
      ...(tokens ? { MetadataOptions: { HttpTokens: tokens } } : {}),
      ClientToken: clientTokenFor(input.restoreId, JobName.Instance, 'run-instances-from-image'),
      TagSpecifications: [
        ...tagSpecification('instance', restoreTags(owner, userTags)),
        // The restored volumes: removed with the instance if the restore fails.
        ...tagSpecification('volume', restoreTags(owner, userTags)),
      ],
    }),
  );
  const instance = Instances[0];
  if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
  return instance;
}

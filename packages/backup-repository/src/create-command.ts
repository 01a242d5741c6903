import type { EC2Client } from '@aws-sdk/client-ec2';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { BLOCK_SIZE } from './block.ts';
import {
  type Output,
  parseVolumeArgument,
  repositoryFrom,
  UsageError,
  userPath,
  type Values,
  type VolumeArgument,
} from './cli-options.ts';
import {
  type RecordedAttributes,
  readImageOfSnapshot,
  readInstanceAttributes,
} from './instance-attributes.ts';
import { type InstanceMetadataInput, instanceMetadataSchema } from './manifest.ts';
import type { SourceBlock, VolumeSpec } from './restore-point-builder.ts';
import { waitUntilSnapshotReadable } from './snapshot-readiness.ts';
import {
  ebsSnapshotVolumeSizeGiB,
  rawImageSize,
  readEbsSnapshot,
  readRawImage,
  volumeSizeGiBForBytes,
} from './sources.ts';

/** Options the user gave for the instance's attributes: they win over what EC2 says. */
function attributesFromFlags(values: Values): Partial<InstanceMetadataInput> {
  const ena = values['ena-support'];
  if (ena !== undefined && ena !== 'true' && ena !== 'false') {
    throw new UsageError(`--ena-support '${ena}': write true or false`);
  }
  const billing = {
    ...(values['platform-details'] ? { platformDetails: values['platform-details'] } : {}),
    ...(values['usage-operation'] ? { usageOperation: values['usage-operation'] } : {}),
    ...(values['billing-product'] ? { billingProducts: values['billing-product'] } : {}),
  };
  return {
    ...(values['instance-type'] ? { instanceType: values['instance-type'] } : {}),
    ...(values.platform ? { platform: values.platform as InstanceMetadataInput['platform'] } : {}),
    ...(values.architecture
      ? { architecture: values.architecture as InstanceMetadataInput['architecture'] }
      : {}),
    ...(values['root-device'] ? { rootDeviceName: values['root-device'] } : {}),
    ...(values['boot-mode'] ? { bootMode: values['boot-mode'] as InstanceMetadataInput['bootMode'] } : {}),
    ...(ena !== undefined ? { enaSupport: ena === 'true' } : {}),
    ...(values.imds ? { imdsHttpTokens: values.imds as InstanceMetadataInput['imdsHttpTokens'] } : {}),
    ...(values['virtualization-type']
      ? { virtualizationType: values['virtualization-type'] as InstanceMetadataInput['virtualizationType'] }
      : {}),
    ...(Object.keys(billing).length > 0 ? { billing } : {}),
  };
}

const optionOf: Record<string, string> = {
  instanceType: '--instance-type',
  platform: '--platform',
  architecture: '--architecture',
  rootDeviceName: '--root-device',
  bootMode: '--boot-mode',
  enaSupport: '--ena-support',
  imdsHttpTokens: '--imds',
  virtualizationType: '--virtualization-type',
  'billing.platformDetails': '--platform-details',
  'billing.usageOperation': '--usage-operation',
  'billing.billingProducts': '--billing-product',
};

/** What EC2 knows of the backed-up instance: `--from-instance`, else the image of a root snapshot. */
async function attributesFromEc2(
  values: Values,
  rootSnapshot: string | undefined,
  region: string,
): Promise<RecordedAttributes | undefined> {
  const instanceId = values['from-instance'];
  if (instanceId === undefined && rootSnapshot === undefined) return undefined;
  const { ec2 } = createAwsClients({ region, ...(values.endpoint ? { endpoint: values.endpoint } : {}) });
  try {
    if (instanceId !== undefined) return await readInstanceAttributes(ec2, instanceId);
    return await readImageOfSnapshot(ec2, rootSnapshot as string).catch((error: Error) => {
      // Only a hint: without it the attributes come from the options (or stay unrecorded).
      process.stderr.write(`note: could not look for an image of ${rootSnapshot}: ${error.message}\n`);
      return undefined;
    });
  } finally {
    ec2.destroy();
  }
}

/** The instance metadata of the manifest: flags over EC2 over the defaults; usage errors name the option. */
async function instanceMetadata(
  values: Values,
  all: VolumeArgument[],
  snapshots: VolumeArgument[],
  region: string,
) {
  const tags: Record<string, string> = {};
  for (const tag of values.tag ?? []) {
    const eq = tag.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag '${tag}': write it as KEY=VALUE, e.g. --tag Name=web-1`);
    tags[tag.slice(0, eq)] = tag.slice(eq + 1);
  }
  const rootDevice = values['root-device'] ?? all[0]!.deviceName;
  const rootSnapshot = snapshots.find((s) => s.deviceName === rootDevice)?.source;
  const ec2 = await attributesFromEc2(values, rootSnapshot, region);
  const fromEc2 = ec2?.instance ?? {};
  const network = {
    ...(fromEc2.network ?? { securityGroupIds: [] }),
    ...(values['security-group-id'] ? { securityGroupIds: values['security-group-id'] } : {}),
    ...(values['subnet-id'] ? { subnetId: values['subnet-id'] } : {}),
    ...(values['vpc-id'] ? { vpcId: values['vpc-id'] } : {}),
    ...(values['availability-zone'] ? { availabilityZone: values['availability-zone'] } : {}),
    ...(values['private-ip'] ? { privateIpAddress: values['private-ip'] } : {}),
  };
  const instance = {
    platform: 'linux',
    architecture: 'x86_64',
    rootDeviceName: rootDevice,
    ...fromEc2,
    ...attributesFromFlags(values),
    network,
    tags: { ...(fromEc2.tags ?? {}), ...tags },
  };
  if (instance.instanceType === undefined) {
    throw new UsageError(
      'create needs --instance-type (the type of the backed-up instance, e.g. t3.micro) or --from-instance.',
    );
  }
  const checked = instanceMetadataSchema.safeParse(instance);
  if (!checked.success) {
    throw new UsageError(
      checked.error.issues
        .map(
          (i) =>
            `${optionOf[i.path.join('.')] ?? optionOf[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`,
        )
        .join('; '),
    );
  }
  if (!all.some((v) => v.deviceName === checked.data.rootDeviceName)) {
    throw new UsageError(
      `--root-device ${checked.data.rootDeviceName} is not one of the volumes (${all.map((v) => v.deviceName).join(', ')}).`,
    );
  }
  return { instance: checked.data, deleteOnTermination: ec2?.deleteOnTermination ?? {} };
}

/** Waits until EBS direct can read the snapshot, saying on stderr what it waits for. */
function waitUntilReadable(ec2: EC2Client, snapshotId: string) {
  let said = '';
  return waitUntilSnapshotReadable(ec2, snapshotId, {
    onWaiting: ({ State, Progress }) => {
      const now = `${State}${Progress ? `, ${Progress}` : ''}`;
      if (now !== said) process.stderr.write(`waiting for snapshot ${snapshotId} to complete (${now})\n`);
      said = now;
    },
  });
}

/** `create`: a restore point from raw disk images and/or EBS snapshots. */
export async function create(values: Values, out: Output): Promise<void> {
  const images = (values.volume ?? []).map((v) => parseVolumeArgument('--volume', v));
  const snapshots = (values.snapshot ?? []).map((v) => parseVolumeArgument('--snapshot', v));
  const all = [...images, ...snapshots];
  if (all.length === 0) {
    throw new UsageError('create needs at least one --volume DEVICE=IMAGE or --snapshot DEVICE=snap-ID.');
  }
  const region = values.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const { instance, deleteOnTermination } = await instanceMetadata(values, all, snapshots, region);

  const repository = repositoryFrom(values);
  const aws =
    snapshots.length > 0
      ? createAwsClients({ region, ...(values.endpoint ? { endpoint: values.endpoint } : {}) })
      : undefined;
  // Every snapshot completed before the first block is read (a snapshot still completing is waited for).
  for (const snapshot of snapshots) await waitUntilReadable(aws!.ec2, snapshot.source);
  const builder = repository.createRestorePoint({
    ...(values.id ? { id: values.id } : {}),
    ...(values.description ? { description: values.description } : {}),
    source:
      snapshots.length > 0
        ? { kind: 'ebs-snapshots', snapshotIds: snapshots.map((s) => s.source) }
        : { kind: 'raw-images' },
    instance,
  });

  for (const volume of all) {
    const isImage = images.includes(volume);
    let sizeGiB: number;
    let blocks: AsyncIterable<SourceBlock>;
    if (isImage) {
      const path = userPath(volume.source);
      let bytes: number;
      try {
        bytes = await rawImageSize(path);
      } catch {
        throw new UsageError(
          `--volume ${volume.deviceName}=${volume.source}: cannot read ${path}; check the path.`,
        );
      }
      const needed = volumeSizeGiBForBytes(bytes);
      if (volume.sizeGiB !== undefined && volume.sizeGiB < needed) {
        throw new UsageError(
          `--volume ${volume.deviceName}: size=${volume.sizeGiB} is smaller than the image (${needed} GiB); raise it or drop size=.`,
        );
      }
      sizeGiB = volume.sizeGiB ?? needed;
      blocks = readRawImage(path);
    } else {
      sizeGiB = await ebsSnapshotVolumeSizeGiB(aws!.ebs, volume.source);
      blocks = readEbsSnapshot(aws!.ebs, volume.source);
    }
    const keep = volume.deleteOnTermination ?? deleteOnTermination[volume.deviceName];
    const spec: VolumeSpec = {
      deviceName: volume.deviceName,
      sizeGiB,
      volumeType: volume.volumeType,
      ...(volume.iops !== undefined ? { iops: volume.iops } : {}),
      ...(volume.throughput !== undefined ? { throughput: volume.throughput } : {}),
      ...(keep !== undefined ? { deleteOnTermination: keep } : {}),
    };
    const bar = out.progress(volume.deviceName);
    await builder.addVolume(spec, blocks, (done, total) => bar(done * BLOCK_SIZE, total * BLOCK_SIZE));
    bar.finish();
  }
  const manifest = await builder.commit();
  const summary = await repository.getSummary(manifest.id);
  if (out.json) out.print(JSON.stringify(summary, null, 2));
  else {
    out.print(`Created restore point ${manifest.id} in ${repository.location}`);
    for (const v of summary.volumes)
      out.print(`  ${v.deviceName}  ${v.sizeGiB} GiB  ${v.volumeType}${v.root ? '  (root)' : ''}`);
    out.print(
      `  data: ${(summary.dataBytes / 1024 ** 2).toFixed(1)} MiB of ${(summary.totalBytes / 1024 ** 3).toFixed(1)} GiB`,
    );
  }
}

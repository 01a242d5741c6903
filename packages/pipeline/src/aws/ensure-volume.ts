import {
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Tag,
  type Volume,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { isNewResourceNotFound } from '@ec2-restore/aws-clients';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { pollUntil } from './poll.ts';
import { findTaggedVolumes, type RestoreResourceTag, restoreTags, tagSpecification } from './restore-tags.ts';

export interface VolumeSpec {
  owner: RestoreResourceTag & { deviceName: string };
  availabilityZone: string;
  sizeGiB: number;
  /** Key ARN the volume is encrypted with. */
  kmsKeyArn: string;
  snapshotId?: string;
  /** The key the snapshot is encrypted with, when it is another one (named in a KMS failure). */
  snapshotKmsKeyArn?: string;
  volumeType?: string;
  iops?: number;
  throughput?: number;
  clientToken: string;
  extraTags?: Record<string, string>;
  /**
   * How long a new volume may stay invisible (`InvalidVolume.NotFound`) before it counts as failed.
   * @defaultValue {@link NOT_FOUND_GRACE_MS}
   */
  notFoundGraceMs?: number;
}

export interface VolumeClients {
  ec2: EC2Client;
  sts: STSClient;
}

/** How long a new volume may stay `creating` before the step gives up (AWS: seconds to a few minutes). */
const CREATING_TIMEOUT_MS = 5 * 60_000;
/**
 * How long a volume CreateVolume just returned may answer `InvalidVolume.NotFound` before that means
 * it is gone: EC2 is eventually consistent, a new id may be invisible "up to a few minutes"
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
 */
export const NOT_FOUND_GRACE_MS = 3 * 60_000;

async function describeVolume(ec2: EC2Client, volumeId: string): Promise<Volume | null> {
  try {
    const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    return Volumes[0] ?? null;
  } catch (error) {
    if (isNewResourceNotFound(error)) return null;
    throw error;
  }
}

async function kmsFailure(
  clients: VolumeClients,
  spec: VolumeSpec,
  volumeId: string,
  what: string,
  awsRequestId: string | undefined,
): Promise<PermanentStepError> {
  const { Arn: principal = 'the caller' } = await clients.sts.send(new GetCallerIdentityCommand({}));
  const keys = [spec.kmsKeyArn, ...(spec.snapshotKmsKeyArn ? [spec.snapshotKmsKeyArn] : [])].join(' and ');
  return new PermanentStepError(
    `volume ${volumeId} for ${spec.owner.deviceName} ${what} after CreateVolume: the KMS key ${keys} ` +
      `is not usable by ${principal} (disabled, pending deletion, or the key policy does not allow it ` +
      'kms:CreateGrant, kms:Decrypt, kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext and kms:ReEncrypt*)',
    { code: 'volume_creation_failed', category: 'kms', ...(awsRequestId ? { awsRequestId } : {}) },
  );
}

/**
 * The volume of `spec.owner`, created if this restore step has not made it yet (found by tag), and
 * no longer `creating`. AWS checks the KMS key only after CreateVolume returned: a volume whose key
 * is unusable stays `creating` and disappears, or reaches `error`
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html: "the action can
 * appear to complete, but eventually fails"); that is reported as a `kms` failure naming the key(s)
 * and the principal. A new volume may also be invisible for a while (eventual consistency), so
 * "not found" means "failed" only once the volume was seen and then vanished, or when it is still
 * not visible after `notFoundGraceMs`.
 */
export async function ensureVolume(clients: VolumeClients, spec: VolumeSpec): Promise<Volume> {
  const { ec2 } = clients;
  let [volume] = await findTaggedVolumes(ec2, spec.owner);
  let requestId: string | undefined;
  // A volume found by tag was seen; one CreateVolume just returned may not be visible yet.
  let seen = volume !== undefined;
  if (volume?.State === 'error') {
    await ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId }));
    throw await kmsFailure(clients, spec, volume.VolumeId ?? '?', 'reached the error state', undefined);
  }
  if (!volume) {
    const tags: Tag[] = restoreTags(spec.owner, spec.extraTags);
    const created = await ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: spec.availabilityZone,
        Size: spec.sizeGiB,
        SnapshotId: spec.snapshotId,
        Encrypted: true,
        KmsKeyId: spec.kmsKeyArn,
        VolumeType: spec.volumeType as VolumeType | undefined,
        Iops: spec.iops,
        Throughput: spec.throughput,
        ClientToken: spec.clientToken,
        TagSpecifications: tagSpecification('volume', tags),
      }),
    );
    requestId = created.$metadata.requestId;
    volume = created;
  }
  const volumeId = volume.VolumeId ?? '';
  if (seen && volume.State !== 'creating') return volume;
  const graceMs = spec.notFoundGraceMs ?? NOT_FOUND_GRACE_MS;
  const startedAt = Date.now();
  const settled = await pollUntil(
    async () => {
      const current = await describeVolume(ec2, volumeId);
      if (current === null) {
        if (seen) return { gone: 'vanished' as const };
        return Date.now() - startedAt >= graceMs ? { gone: 'never-visible' as const } : undefined;
      }
      seen = true;
      return current.State === 'creating' ? undefined : { gone: false as const, volume: current };
    },
    { timeoutMs: CREATING_TIMEOUT_MS + graceMs, intervalMs: 500 },
  );
  if (!settled) {
    throw new PermanentStepError(
      `volume ${volumeId} for ${spec.owner.deviceName} is still creating after ${CREATING_TIMEOUT_MS / 60_000} minutes`,
      { code: 'volume_creation_failed', category: 'aws' },
    );
  }
  if (settled.gone === 'vanished') throw await kmsFailure(clients, spec, volumeId, 'disappeared', requestId);
  if (settled.gone === 'never-visible') {
    const after = `was still not visible ${Math.round(graceMs / 1000)} s`;
    throw await kmsFailure(clients, spec, volumeId, after, requestId);
  }
  if (settled.volume.State === 'error') {
    await ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    throw await kmsFailure(clients, spec, volumeId, 'reached the error state', requestId);
  }
  return settled.volume;
}

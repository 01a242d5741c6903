import {
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  GetEbsDefaultKmsKeyIdCommand,
  ModifySnapshotAttributeCommand,
  TerminateInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { RevokeGrantCommand } from '@aws-sdk/client-kms';
import { classifyAwsError } from '@ec2-restore/aws-clients';
import { type CleanupJobInput, type CleanupJobResult, JobName } from '@ec2-restore/contracts';
import { pollUntil } from '../aws/poll.ts';
import { findTaggedInstances, findTaggedSnapshots, findTaggedVolumes } from '../aws/restore-tags.ts';
import { describeTransferKey } from '../aws/transfer-key.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { LAUNCH_ROOT_STEP, LAUNCH_VOLUME_STEP } from './instance.ts';
import { findGrants, grantNameFor } from './share.ts';
import type { StepContext } from './step-context.ts';

const RECHECK_MS = 5_000;

/**
 * Already gone: EC2's `InvalidSnapshot.NotFound`, `InvalidVolume.NotFound`, KMS's `NotFoundException`
 * (a revoked grant). Two cleanups of one restore may overlap (the flow's and the one a cancelled job
 * requests), so every delete treats "not found" as done.
 */
function isNotFound(error: unknown): boolean {
  return /NotFound(Exception)?$/.test(classifyAwsError(error).code);
}

/** Runs a delete-like call; a resource that no longer exists counts as done (false). */
async function ifStillThere(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Tag set on a volume when cleanup first asks EC2 to detach it: the start of its bounded wait. */
export const DETACH_REQUESTED_TAG = 'ec2-restore:detach-requested-at';
/** How long cleanup waits for a polite (not forced) detach before it reports the volume. */
export const DETACH_GRACE_MS = 10 * 60_000;

/** What `deleteVolumes` could not finish yet, or at all. */
interface VolumeRemoval {
  /** Still detaching, within the grace: look again later. */
  detaching: string[];
  /** Still attached after the grace to an instance this restore did not launch: for a person. */
  stuck: string[];
}

/**
 * Detaches (when attached) and deletes volumes. A volume is force-detached only from an instance
 * this restore launched (force gives the instance no chance to flush its caches, see
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html); from any other
 * instance (the customer's instance of a volume-level restore, the snapshot worker) it is detached
 * politely, waited for up to {@link DETACH_GRACE_MS}, and then reported instead of forced.
 */
async function deleteVolumes(
  ec2: EC2Client,
  volumes: Volume[],
  deleted: string[],
  launched: ReadonlySet<string>,
  removal: VolumeRemoval,
): Promise<void> {
  const waiting = new Set<string>();
  for (const volume of volumes) {
    const volumeId = volume.VolumeId ?? '';
    const attachments = (volume.Attachments ?? []).filter((a) => a.State !== 'detached');
    if (attachments.length === 0) continue;
    const requestedAt = volume.Tags?.find((t) => t.Key === DETACH_REQUESTED_TAG)?.Value;
    if (!requestedAt) {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId],
          Tags: [{ Key: DETACH_REQUESTED_TAG, Value: new Date().toISOString() }],
        }),
      );
    }
    for (const attachment of attachments) {
      const force = attachment.InstanceId !== undefined && launched.has(attachment.InstanceId);
      if (attachment.State === 'detaching' && !force) continue;
      await ifStillThere(() =>
        ec2.send(
          new DetachVolumeCommand({
            VolumeId: volumeId,
            InstanceId: attachment.InstanceId,
            Device: attachment.Device,
            ...(force ? { Force: true } : {}),
          }),
        ),
      );
    }
    const elapsed = requestedAt ? Date.now() - Date.parse(requestedAt) : 0;
    if (elapsed >= DETACH_GRACE_MS) {
      removal.stuck.push(
        `${volumeId} (attached to ${attachments.map((a) => a.InstanceId).join(', ')} since before ${requestedAt})`,
      );
      waiting.add(volumeId);
    }
  }
  for (const volume of volumes) {
    const volumeId = volume.VolumeId ?? '';
    if (waiting.has(volumeId)) continue;
    const available = await pollUntil(
      async () => {
        try {
          const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
          return Volumes[0]?.State === 'in-use' || Volumes[0]?.State === 'creating' ? undefined : true;
        } catch (error) {
          if (isNotFound(error)) return true;
          throw error;
        }
      },
      { timeoutMs: 15_000 },
    );
    if (!available) {
      removal.detaching.push(volumeId);
      continue;
    }
    try {
      await ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
      deleted.push(volumeId);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

/**
 * The cleanup step, after the flow ended (succeeded, failed or cancelled): in the source account it
 * withdraws the shares, deletes the temporary snapshots and volumes and revokes the KMS grant; when
 * the restore did not succeed it also removes what the instance step made in the target account.
 * It only touches resources tagged with this restore's id, and may run any number of times.
 */
export async function cleanupRestore(input: CleanupJobInput, ctx: StepContext): Promise<CleanupJobResult> {
  const result: CleanupJobResult = {
    unsharedSnapshots: [],
    deletedSnapshots: [],
    deletedVolumes: [],
    terminatedInstances: [],
    retiredGrants: [],
  };
  const source = ctx.clients.source(input.region);
  const restoreId = input.restoreId;
  const removal: VolumeRemoval = { detaching: [], stuck: [] };
  const target = ctx.clients.target(input);
  // The instances this restore launched: the only ones a volume may be force-detached from.
  const launchedInstances = await findTaggedInstances(target.ec2, { restoreId, step: JobName.Instance });
  const launched = new Set(launchedInstances.flatMap((i) => (i.InstanceId ? [i.InstanceId] : [])));

  // Source account: temporary snapshots (withdraw the share first) and worker volumes.
  const snapshots = await findTaggedSnapshots(source.ec2, { restoreId, step: JobName.Snapshot });
  const snapshotKeys = new Set(snapshots.flatMap((s) => (s.KmsKeyId ? [s.KmsKeyId] : [])));
  for (const snapshot of snapshots) {
    if (input.mode === 'cross-account') {
      const unshared = await ifStillThere(() =>
        source.ec2.send(
          new ModifySnapshotAttributeCommand({
            SnapshotId: snapshot.SnapshotId,
            Attribute: 'createVolumePermission',
            CreateVolumePermission: { Remove: [{ UserId: input.targetAccountId }] },
          }),
        ),
      );
      if (unshared) result.unsharedSnapshots.push(snapshot.SnapshotId ?? '');
    }
    if (
      await ifStillThere(() =>
        source.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshot.SnapshotId })),
      )
    ) {
      result.deletedSnapshots.push(snapshot.SnapshotId ?? '');
    }
  }
  await deleteVolumes(
    source.ec2,
    await findTaggedVolumes(source.ec2, { restoreId, step: JobName.Snapshot }),
    result.deletedVolumes,
    new Set(),
    removal,
  );

  // The grant of `kmsGrant: auto`, on the source default key, the transfer key and any key a snapshot used.
  if (input.mode === 'cross-account') {
    const { KmsKeyId } = await source.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
    if (KmsKeyId) snapshotKeys.add(KmsKeyId);
    // The transfer key of the restore role, when it has one (a restore with `transferKey`).
    const transferKey = input.roleArn ? await describeTransferKey(source.kms, input.roleArn) : null;
    if (transferKey) snapshotKeys.add(transferKey.Arn);
    for (const keyId of snapshotKeys) {
      for (const grant of await findGrants(source.kms, keyId, grantNameFor(restoreId))) {
        const revoke = () =>
          source.kms.send(new RevokeGrantCommand({ KeyId: grant.keyId, GrantId: grant.grantId }));
        if (await ifStillThere(revoke)) result.retiredGrants.push(grant.grantId);
      }
    }
  }

  // Target account: the launch root volume always; the instance and its volumes unless the restore succeeded.
  if (input.outcome !== 'succeeded') {
    if (launched.size > 0) {
      const ids = [...launched];
      await target.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
      result.terminatedInstances.push(...ids);
    }
    for (const step of [JobName.Instance, LAUNCH_VOLUME_STEP]) {
      await deleteVolumes(
        target.ec2,
        await findTaggedVolumes(target.ec2, { restoreId, step }),
        result.deletedVolumes,
        launched,
        removal,
      );
    }
  }
  await deleteVolumes(
    target.ec2,
    await findTaggedVolumes(target.ec2, { restoreId, step: LAUNCH_ROOT_STEP }),
    result.deletedVolumes,
    launched,
    removal,
  );
  if (removal.stuck.length > 0) {
    throw new PermanentStepError(
      `cleanup could not remove ${removal.stuck.join('; ')}: the volume did not detach within ` +
        `${DETACH_GRACE_MS / 60_000} minutes and is not forced off an instance this restore did not launch ` +
        '(the instance may still use it). Unmount it in the instance, detach it, and delete it.',
      { code: 'aws_error', category: 'aws' },
    );
  }
  if (removal.detaching.length > 0) {
    throw new StepPendingError(`volumes ${removal.detaching.join(', ')} to be detached`, RECHECK_MS);
  }
  return result;
}

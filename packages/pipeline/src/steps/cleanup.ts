import {
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
import { StepPendingError } from '../errors/step-pending-error.ts';
import { LAUNCH_ROOT_STEP } from './instance.ts';
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

/** Detaches (when attached) and deletes volumes; waits briefly for detaching ones. */
async function deleteVolumes(ec2: EC2Client, volumes: Volume[], deleted: string[]): Promise<void> {
  for (const volume of volumes) {
    if (volume.State === 'in-use') {
      for (const attachment of volume.Attachments ?? []) {
        await ec2.send(
          new DetachVolumeCommand({
            VolumeId: volume.VolumeId,
            InstanceId: attachment.InstanceId,
            Device: attachment.Device,
            Force: true,
          }),
        );
      }
    }
  }
  for (const volume of volumes) {
    const volumeId = volume.VolumeId ?? '';
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
    if (!available) throw new StepPendingError(`volume ${volumeId} to be detached`, RECHECK_MS);
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
  );

  // The grant of `kmsGrant: auto`, on the source default key (and any key a snapshot used).
  if (input.mode === 'cross-account') {
    const { KmsKeyId } = await source.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
    if (KmsKeyId) snapshotKeys.add(KmsKeyId);
    for (const keyId of snapshotKeys) {
      for (const grant of await findGrants(source.kms, keyId, grantNameFor(restoreId))) {
        const revoke = () =>
          source.kms.send(new RevokeGrantCommand({ KeyId: grant.keyId, GrantId: grant.grantId }));
        if (await ifStillThere(revoke)) result.retiredGrants.push(grant.grantId);
      }
    }
  }

  // Target account: the launch root volume always; the instance and its volumes unless the restore succeeded.
  const target = ctx.clients.target(input);
  if (input.outcome !== 'succeeded') {
    const instances = await findTaggedInstances(target.ec2, { restoreId, step: JobName.Instance });
    if (instances.length > 0) {
      const ids = instances.map((i) => i.InstanceId ?? '');
      await target.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
      result.terminatedInstances.push(...ids);
    }
    await deleteVolumes(
      target.ec2,
      await findTaggedVolumes(target.ec2, { restoreId, step: JobName.Instance }),
      result.deletedVolumes,
    );
  }
  await deleteVolumes(
    target.ec2,
    await findTaggedVolumes(target.ec2, { restoreId, step: LAUNCH_ROOT_STEP }),
    result.deletedVolumes,
  );
  return result;
}

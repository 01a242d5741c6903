import { type EC2Client, GetEbsDefaultKmsKeyIdCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DETACH_GRACE_MS,
  describeVolumeRemoval,
  findGrantsByName,
  findStepSnapshots,
  findTaggedImages,
  findTaggedInstances,
  findTaggedVolumes,
  removeImage,
  removeSnapshot,
  removeVolumes,
  revokeGrant,
  type VolumeRemoval,
} from '@ec2-restore/aws-resources';
import {
  type CleanupJobInput,
  type CleanupJobResult,
  IMAGE_STEP,
  JobName,
  LAUNCH_ROOT_STEP,
  LAUNCH_VOLUME_STEP,
} from '@ec2-restore/contracts';
import { allSettledOrThrow } from '../aws/instance-state.ts';
import { describeTransferKey } from '../aws/transfer-key.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { grantNameFor } from './share.ts';
import type { StepContext } from './step-context.ts';

const RECHECK_MS = 5_000;
/** How long one cleanup run waits for detached volumes; longer waits go back to the queue. */
const DETACH_WAIT_MS = 15_000;

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
    deregisteredImages: [],
  };
  const source = ctx.clients.source(input.region);
  const restoreId = input.restoreId;
  const unfinished: VolumeRemoval[] = [];
  const target = ctx.clients.target(input);
  // The instances this restore launched: the only ones a volume may be force-detached from. Looked up
  // at the same time as everything else; a volume removal waits for it.
  const launched = findTaggedInstances(target.ec2, { restoreId, step: JobName.Instance }).then(
    (instances) => new Set(instances.flatMap((i) => (i.InstanceId ? [i.InstanceId] : []))),
  );
  /** Removes the volumes these steps made; the ids of those deleted (the unfinished go to `unfinished`). */
  const removeVolumesOf = async (ec2: EC2Client, steps: string[]): Promise<string[]> => {
    const perStep = await allSettledOrThrow(
      steps.map(async (step) => {
        const volumes = await findTaggedVolumes(ec2, { restoreId, step });
        if (volumes.length === 0) return [];
        return removeVolumes(ec2, volumes, { launchedInstances: await launched, waitMs: DETACH_WAIT_MS });
      }),
    );
    const deleted: string[] = [];
    for (const removal of perStep.flat()) {
      if (removal.outcome === 'deleted') deleted.push(removal.volumeId);
      else if (removal.outcome !== 'gone') unfinished.push(removal);
    }
    return deleted;
  };

  // The target account's part and the source account's part touch different resources: they run at
  // once, and within each what does not depend on another removal runs at once too. Each keeps its
  // own order (an image before the snapshot it names, a share withdrawn before its snapshot is
  // deleted, an instance terminated before its volumes); what each removed is reported in a fixed order.
  const imageAndCopy = async () => {
    // The temporary image (before any snapshot it names) and the root snapshot copy.
    const [images, found] = await allSettledOrThrow([
      (async () => {
        const removed: string[] = [];
        for (const image of await findTaggedImages(target.ec2, { restoreId, step: IMAGE_STEP })) {
          if (await removeImage(target.ec2, image.ImageId ?? '')) removed.push(image.ImageId ?? '');
        }
        return removed;
      })(),
      input.mode === 'cross-account'
        ? findStepSnapshots(target.ec2, { restoreId, step: IMAGE_STEP })
        : Promise.resolve([]),
    ] as const);
    const removals = await allSettledOrThrow(
      found.map((copy) => removeSnapshot(target.ec2, copy.SnapshotId ?? '')),
    );
    return { images, copies: removals.filter((r) => r.outcome === 'deleted').map((r) => r.snapshotId) };
  };
  const instanceAndVolumes = async () => {
    // The launch root volume always; the instance and its volumes unless the restore succeeded.
    if (input.outcome === 'succeeded')
      return { terminated: [], volumes: await removeVolumesOf(target.ec2, [LAUNCH_ROOT_STEP]) };
    const terminated = [...(await launched)];
    if (terminated.length > 0)
      await target.ec2.send(new TerminateInstancesCommand({ InstanceIds: terminated }));
    const volumes = await removeVolumesOf(target.ec2, [
      JobName.Instance,
      LAUNCH_VOLUME_STEP,
      LAUNCH_ROOT_STEP,
    ]);
    return { terminated, volumes };
  };
  const inTarget = async () => {
    const [{ images, copies }, { terminated, volumes }] = await allSettledOrThrow([
      imageAndCopy(),
      instanceAndVolumes(),
    ]);
    return { images, copies, terminated, volumes };
  };

  // Temporary snapshots (each share withdrawn first), all at once, and worker volumes. Only those
  // the snapshot step made: a snapshot another tool took of a worker volume, or copied, keeps its tags.
  const snapshots = findStepSnapshots(source.ec2, { restoreId, step: JobName.Snapshot });
  /** The grant of `kmsGrant: auto`, on the source default key, the transfer key and any key a snapshot used. */
  const revokeGrants = async (): Promise<string[]> => {
    if (input.mode !== 'cross-account') return [];
    const [made, { KmsKeyId }, transferKey] = await allSettledOrThrow([
      snapshots,
      source.ec2.send(new GetEbsDefaultKmsKeyIdCommand({})),
      // The transfer key of the restore role, when it has one (a restore with `transferKey`).
      input.roleArn ? describeTransferKey(source.kms, input.roleArn) : Promise.resolve(null),
    ] as const);
    const keys = new Set(made.flatMap((s) => (s.KmsKeyId ? [s.KmsKeyId] : [])));
    if (KmsKeyId) keys.add(KmsKeyId);
    if (transferKey) keys.add(transferKey.Arn);
    const perKey = await allSettledOrThrow(
      [...keys].map(async (keyId) => {
        const revoked: string[] = [];
        for (const grant of await findGrantsByName(source.kms, keyId, grantNameFor(restoreId))) {
          if (await revokeGrant(source.kms, grant)) revoked.push(grant.grantId);
        }
        return revoked;
      }),
    );
    return perKey.flat();
  };
  const inSource = async () => {
    const [removals, volumes, grants] = await allSettledOrThrow([
      (async () =>
        allSettledOrThrow((await snapshots).map((s) => removeSnapshot(source.ec2, s.SnapshotId ?? ''))))(),
      removeVolumesOf(source.ec2, [JobName.Snapshot]),
      revokeGrants(),
    ]);
    return { removals, volumes, grants };
  };

  const [fromTarget, fromSource] = await allSettledOrThrow([inTarget(), inSource(), launched]);
  result.deregisteredImages.push(...fromTarget.images);
  result.deletedSnapshots.push(...fromTarget.copies);
  for (const removal of fromSource.removals) {
    if (removal.unsharedFrom.length > 0) result.unsharedSnapshots.push(removal.snapshotId);
    if (removal.outcome === 'deleted') result.deletedSnapshots.push(removal.snapshotId);
  }
  result.deletedVolumes.push(...fromSource.volumes, ...fromTarget.volumes);
  result.retiredGrants.push(...fromSource.grants);
  result.terminatedInstances.push(...fromTarget.terminated);
  const stuck = unfinished.filter((r) => r.outcome === 'stuck');
  if (stuck.length > 0) {
    throw new PermanentStepError(
      `cleanup could not remove ${stuck.map(describeVolumeRemoval).join('; ')} ` +
        `(it did not detach within ${DETACH_GRACE_MS / 60_000} minutes).`,
      { code: 'aws_error', category: 'aws' },
    );
  }
  if (unfinished.length > 0) {
    throw new StepPendingError(
      `volumes ${unfinished.map((r) => r.volumeId).join(', ')} to be detached`,
      RECHECK_MS,
    );
  }
  return result;
}

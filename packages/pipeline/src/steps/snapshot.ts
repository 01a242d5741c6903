import { CreateTagsCommand, type EC2Client, type Snapshot } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { classifyAwsError } from '@ec2-restore/aws-clients';
import {
  GIB,
  JobName,
  parseRoleArn,
  type SnapshotJobInput,
  type SnapshotJobResult,
} from '@ec2-restore/contracts';
import { EbsDirectWriter } from '@ec2-restore/snapshot-writers';
import { allSettledOrThrow } from '../aws/instance-state.ts';
import { pollUntil } from '../aws/poll.ts';
import { findStepSnapshots, stepSnapshotDescription } from '../aws/restore-tags.ts';
import { sourceDefaultKey } from '../aws/source-default-key.ts';
import { ensureTransferKey } from '../aws/transfer-key.ts';
import { waitForSnapshot } from '../aws/wait-for-snapshot.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { assertSnapshotMatchesRestorePoint } from './read-back.ts';
import { addCreateVolumePermission, refusedForItsState } from './share.ts';
import { readBackSubject, type SnapshotStepContext, throttledProgress } from './snapshot-step-context.ts';
import { workerVolume } from './snapshot-worker-volume.ts';

const STEP = JobName.Snapshot;

/**
 * How long the share made while the blocks are written tries again while EC2 does not know the new
 * snapshot yet (the emulator models 200-400 ms; AWS documents no bound): past it the share step shares.
 */
const EARLY_SHARE_WAIT_MS = 2_000;

/** How long the snapshot step waits for EC2 to know a snapshot StartSnapshot made before it tags it. */
const NEW_SNAPSHOT_WAIT_MS = 30_000;

export { SOURCE_VOLUME_TAG } from '../aws/restore-tags.ts';
export type { SnapshotStepContext } from './snapshot-step-context.ts';

/**
 * Tag an EBS direct snapshot gets once every block is written, before CompleteSnapshot: a later
 * attempt that finds it only completes and waits, and never writes into a snapshot that may be sealed
 * (PutSnapshotBlock is only for snapshots still being written).
 */
export const BLOCKS_WRITTEN_TAG = 'ec2-restore:blocks-written';

/**
 * The key the snapshot is encrypted with, re-checked now (keys change after the pre-flight): the
 * target key for the same account; for another account the transfer key (`transferKey`, created on
 * first use), else the source default key, which must be customer managed so the snapshot can be shared.
 */
async function snapshotKeyArn(input: SnapshotJobInput, ctx: SnapshotStepContext): Promise<string> {
  const clients = ctx.clients.source(input.region);
  if (input.mode === 'cross-account' && input.transferKey && input.roleArn)
    return (await ensureTransferKey(clients, input.roleArn)).Arn;
  if (input.mode === 'cross-account') return (await sourceDefaultKey(clients, { mustBeShareable: true })).Arn;
  const { KeyMetadata } = await clients.kms.send(new DescribeKeyCommand({ KeyId: input.targetKmsKeyId }));
  if (!KeyMetadata?.Arn || KeyMetadata.KeyState !== 'Enabled') {
    throw new PermanentStepError(
      `target key ${input.targetKmsKeyId} is ${KeyMetadata?.KeyState ?? 'unknown'}; enable it or choose another target.kmsKeyId`,
      { code: 'kms_key_unusable', category: 'kms' },
    );
  }
  return KeyMetadata.Arn;
}

function resultOf(input: SnapshotJobInput, snapshot: Snapshot, kmsKeyArn: string): SnapshotJobResult {
  const { volume } = input;
  return {
    deviceName: volume.deviceName,
    snapshotId: snapshot.SnapshotId ?? '',
    kmsKeyId: snapshot.KmsKeyId || kmsKeyArn,
    sizeGiB: volume.sizeGiB,
    volumeType: volume.volumeType,
    ...(volume.iops ? { iops: volume.iops } : {}),
    ...(volume.throughput ? { throughput: volume.throughput } : {}),
    bytesWritten: volume.sizeGiB * GIB,
  };
}

/**
 * Whether the share step, not this one, waits for the snapshot to complete: another account's restore
 * writing with EBS direct and not reading the blocks back (EBS direct reads only completed snapshots).
 * The share is then made while EBS seals the snapshot, and reaches the target account meanwhile
 * (see share.ts). worker-volume keeps its wait: it removes its volume once the snapshot completed.
 */
export function sealEndsInShareStep(input: SnapshotJobInput): boolean {
  return input.mode === 'cross-account' && input.dataPath === 'ebs-direct' && !input.verify;
}

/**
 * When the share step waits for the seal (sealEndsInShareStep), the snapshot is shared with the target
 * account as soon as StartSnapshot made it, while its blocks are written: the share reaches the target
 * account during the write (a snapshot `pending` cannot be used there before it is `completed`) and
 * is off the restore's path, instead of being made after the seal. The key is the one checked
 * shareable above (a customer managed source default key); the target account is the job's, which
 * the worker checked against what the API accepted. The share step still checks the restore's
 * snapshots, shares them again (a no-op here) and does the rest; cleanup (and the sweeper) withdraw
 * the share before deleting the snapshot, whatever its state. A refusal for the snapshot's state (AWS
 * documents none, see share.ts), or an id EC2 still does not know after EARLY_SHARE_WAIT_MS, leaves
 * the share to the share step; so do a role outside the target account (the share step refuses it,
 * naming it) and the transfer key, whose key policy the share step checks before anything is shared
 * (transferKeyToShare).
 */
async function shareWhileWriting(
  input: SnapshotJobInput,
  ec2: EC2Client,
  snapshotId: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const role = parseRoleArn(input.roleArn ?? '');
  const roleInTarget = role.ok && role.arn.accountId === input.targetAccountId;
  if (!sealEndsInShareStep(input) || input.transferKey || !roleInTarget) return;
  // EC2 may not know the id StartSnapshot just made for a moment (InvalidSnapshot.NotFound, eventual
  // consistency: https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): pollUntil
  // counts that as not yet and tries again, off the restore's path (the blocks are being written), for
  // EARLY_SHARE_WAIT_MS at most; still unknown then, the share step shares it.
  await pollUntil(
    async () => {
      try {
        await addCreateVolumePermission(ec2, snapshotId, input.targetAccountId);
      } catch (error) {
        if (!refusedForItsState(error)) throw error;
      }
      return true;
    },
    { timeoutMs: EARLY_SHARE_WAIT_MS, ...(signal ? { signal } : {}) },
  );
}

/**
 * Tags the snapshot BLOCKS_WRITTEN_TAG. A volume of few blocks is written before EC2 knows the id
 * StartSnapshot made (InvalidSnapshot.NotFound for a moment, eventual consistency:
 * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): pollUntil counts that as
 * not yet, for `waitMs` (NEW_SNAPSHOT_WAIT_MS) at most; past it the attempt fails (retryable) and the
 * next one writes the blocks again into the same snapshot.
 */
export async function markBlocksWritten(
  ec2: EC2Client,
  snapshotId: string,
  signal: AbortSignal | undefined,
  waitMs = NEW_SNAPSHOT_WAIT_MS,
): Promise<void> {
  const tagged = await pollUntil(
    async () => {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [snapshotId],
          Tags: [{ Key: BLOCKS_WRITTEN_TAG, Value: 'true' }],
        }),
      );
      return true;
    },
    { timeoutMs: waitMs, ...(signal ? { signal } : {}) },
  );
  signal?.throwIfAborted();
  if (!tagged)
    throw new Error(
      `EC2 still does not know snapshot ${snapshotId} ${waitMs / 1000} s after its blocks were written; the step will try again`,
    );
}

/** The key (see snapshotKeyArn) and what an earlier attempt wrote, looked up at once. */
async function keyAndEarlierSnapshots(input: SnapshotJobInput, ctx: SnapshotStepContext) {
  const { ec2 } = ctx.clients.source(input.region);
  const owner = { restoreId: input.restoreId, step: STEP, deviceName: input.volume.deviceName };
  return allSettledOrThrow([snapshotKeyArn(input, ctx), findStepSnapshots(ec2, owner)] as const);
}

async function ebsDirect(
  input: SnapshotJobInput,
  ctx: SnapshotStepContext,
  kmsKeyArn: string,
  tagged: Snapshot[],
): Promise<Snapshot> {
  const { ec2, ebs, kms } = ctx.clients.source(input.region);
  const completed = tagged.find((s) => s.State === 'completed');
  if (completed) return completed;
  // Written and completed (or completing) by an earlier attempt: complete again if need be, then wait.
  // A pending one without the mark is a write an earlier attempt did not finish: the writer's
  // ClientToken gives the same snapshot back and every block is written again (a block may be
  // overwritten while the snapshot is pending).
  const sealed = tagged.find(
    (s) => s.State === 'pending' && s.Tags?.some((t) => t.Key === BLOCKS_WRITTEN_TAG),
  );
  await ctx.checkpoint();
  const writer = new EbsDirectWriter({
    repository: ctx.repository,
    ebs,
    ec2,
    ...(ctx.inFlight ? { inFlight: ctx.inFlight } : {}),
    ...(ctx.putsPerSecond !== undefined ? { putsPerSecond: ctx.putsPerSecond } : {}),
    // The completion wait goes back to the queue (StepPendingError), not into this job.
    awaitCompletion: false,
  });
  let snapshotId = sealed?.SnapshotId ?? '';
  try {
    ({ snapshotId } = await writer.writeVolume({
      restorePointId: input.restorePointId,
      deviceName: input.volume.deviceName,
      target: {
        restoreId: input.restoreId,
        step: STEP,
        kmsKeyArn,
        description: stepSnapshotDescription(input.restoreId, input.volume.deviceName),
        ...(sealed ? { blocksWritten: true } : {}),
        onStarted: (id) => shareWhileWriting(input, ec2, id, ctx.signal),
        onBlocksWritten: (id) => markBlocksWritten(ec2, id, ctx.signal),
      },
      onProgress: throttledProgress(ctx, input.volume.sizeGiB * GIB),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    }));
  } catch (error) {
    // CompleteSnapshot again on a snapshot EBS already took as complete may be refused: it only needs waiting for.
    if (!sealed || classifyAwsError(error).retryable) throw error;
  }
  // Sealing (`pending`) is enough when the share step waits for `completed`; an `error` fails here either way.
  const until = sealEndsInShareStep(input) ? 'sealing' : 'completed';
  return waitForSnapshot({ ec2, kms }, snapshotId, until, ctx.completionWaitMs);
}

/**
 * The snapshot step (docs/architecture.md#the-two-flows, step 1), one job per volume, in the target region
 * of the source account: re-checks the key, writes the volume's data into an encrypted snapshot
 * (`ebs-direct`, or `worker-volume` through a volume attached to this worker) and reports progress
 * in bytes. With `verify`, reads every block back and fails the restore, naming the blocks, when one
 * differs from the restore point. Ends once the snapshot is `completed`, or for another account's
 * EBS direct restore without `verify` once it is sealing (sealEndsInShareStep). Re-runnable: a
 * snapshot of this restore and device is found by tag and kept (and read back again when verifying).
 */
export async function writeVolumeSnapshot(
  input: SnapshotJobInput,
  ctx: SnapshotStepContext,
): Promise<SnapshotJobResult> {
  await ctx.checkpoint();
  const total = input.volume.sizeGiB * GIB;
  let snapshot: Snapshot;
  let kmsKeyArn: string;
  if (input.dataPath === 'ebs-direct') {
    let tagged: Snapshot[];
    [kmsKeyArn, tagged] = await keyAndEarlierSnapshots(input, ctx);
    snapshot = await ebsDirect(input, ctx, kmsKeyArn, tagged);
    await ctx.progress(total, total);
    if (input.verify) {
      // Every run verifies, a resumed one too: an earlier attempt may have stopped after the snapshot
      // completed and before the read-back ended. EBS direct reads only completed snapshots.
      await ctx.checkpoint();
      await ctx.progress(0, total, 'verify');
      const { ebs } = ctx.clients.source(input.region);
      await assertSnapshotMatchesRestorePoint(ebs, snapshot.SnapshotId ?? '', readBackSubject(input, ctx));
      await ctx.progress(total, total, 'verify');
    }
  } else {
    kmsKeyArn = await snapshotKeyArn(input, ctx);
    // worker-volume verifies inside, before the snapshot is taken.
    snapshot = await workerVolume(input, ctx, kmsKeyArn);
    await ctx.progress(total, total);
  }
  return resultOf(input, snapshot, kmsKeyArn);
}

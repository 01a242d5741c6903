import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { classifyAwsError, isNewResourceNotFound } from '@ec2-restore/aws-clients';
import type { BackupRepository } from '@ec2-restore/backup-repository';
import {
  clientTokenFor,
  JobName,
  type SnapshotJobInput,
  type SnapshotJobResult,
  type VolumePhase,
} from '@ec2-restore/contracts';
import { EbsDirectWriter, WorkerVolumeWriter } from '@ec2-restore/snapshot-writers';
import { ensureVolume } from '../aws/ensure-volume.ts';
import { pollUntil } from '../aws/poll.ts';
import {
  findTaggedSnapshots,
  findTaggedVolumes,
  restoreTags,
  tagSpecification,
} from '../aws/restore-tags.ts';
import { sourceDefaultKey } from '../aws/source-default-key.ts';
import { ensureTransferKey } from '../aws/transfer-key.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { assertDeviceMatchesRestorePoint, assertSnapshotMatchesRestorePoint } from './read-back.ts';
import type { ProgressSink, StepContext } from './step-context.ts';

const STEP = JobName.Snapshot;
const GIB = 1024 ** 3;
const SHORT_WAIT_MS = 30_000;
const RECHECK_MS = 10_000;
/**
 * Tag of a worker-volume snapshot naming the volume it was taken from. A snapshot is this step's
 * only when its own VolumeId equals that tag: a snapshot some other tool made (or copied) with our
 * tags copied along has another VolumeId, and is never taken for ours.
 */
export const SOURCE_VOLUME_TAG = 'ec2-restore:source-volume';
/** Device names tried for the temporary volume on the worker instance (the EC2 recommended range). */
const WORKER_DEVICE_NAMES = 'fghijklmnop'.split('').map((letter) => `/dev/sd${letter}`);

export interface SnapshotStepContext extends StepContext {
  repository: BackupRepository;
  /** Aborts a write in progress (the restore was cancelled). */
  signal?: AbortSignal;
  progress: ProgressSink;
  /** PutSnapshotBlock calls in flight per volume (`ebs-direct`). @defaultValue the writer's (64) */
  inFlight?: number;
  /** The EC2 instance this worker runs on (`worker-volume` only). */
  workerInstanceId?: string;
  /**
   * `worker-volume` without real block devices (tests, the embedded default on the emulator): a
   * folder standing in for /dev/disk/by-id, where an attached volume appears as a file named after
   * its volume id. The step creates that file at attach time, as the kernel creates the device node.
   */
  deviceFolder?: string;
  /**
   * How long the step waits in the job for a snapshot to complete before it hands the wait back to
   * the queue (the job is delayed, no worker slot is held). @defaultValue 30000
   */
  completionWaitMs?: number;
}

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

async function waitForSnapshotCompleted(
  ec2: EC2Client,
  snapshotId: string,
  waitMs: number = SHORT_WAIT_MS,
): Promise<Snapshot> {
  const done = await pollUntil(
    async () => {
      let snapshot: Snapshot | undefined;
      try {
        const { Snapshots = [] } = await ec2.send(
          new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }),
        );
        snapshot = Snapshots[0];
      } catch (error) {
        // A new snapshot may not be visible yet (EC2 eventual consistency).
        if (isNewResourceNotFound(error)) return undefined;
        throw error;
      }
      if (snapshot?.State === 'error') {
        throw new PermanentStepError(
          `snapshot ${snapshotId} ended in the error state: ${snapshot.StateMessage ?? ''}`,
          {
            code: 'snapshot_failed',
            category: 'aws',
          },
        );
      }
      return snapshot?.State === 'completed' ? snapshot : undefined;
    },
    { timeoutMs: waitMs, intervalMs: 1000 },
  );
  if (!done) throw new StepPendingError(`snapshot ${snapshotId} to complete`, RECHECK_MS);
  return done;
}

function throttledProgress(
  ctx: SnapshotStepContext,
  total: number,
  phase: VolumePhase = 'write',
): (bytesDone: number) => void {
  let lastReport = 0;
  return (bytesDone) => {
    const now = Date.now();
    if (now - lastReport >= 1000 || bytesDone >= total) {
      lastReport = now;
      void Promise.resolve(ctx.progress(bytesDone, total, phase)).catch(() => {});
    }
  };
}

/** The verify phase of a volume: from here on its progress counts the bytes read back. */
function readBackSubject(input: SnapshotJobInput, ctx: SnapshotStepContext) {
  return {
    repository: ctx.repository,
    restorePointId: input.restorePointId,
    deviceName: input.volume.deviceName,
    onProgress: throttledProgress(ctx, input.volume.sizeGiB * GIB, 'verify'),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

async function ebsDirect(input: SnapshotJobInput, ctx: SnapshotStepContext, kmsKeyArn: string) {
  const { ec2, ebs } = ctx.clients.source(input.region);
  const owner = { restoreId: input.restoreId, step: STEP, deviceName: input.volume.deviceName };
  const tagged = await findTaggedSnapshots(ec2, owner);
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
        description: `ec2-restore ${input.restoreId} ${input.volume.deviceName}`,
        ...(sealed ? { blocksWritten: true } : {}),
        onBlocksWritten: async (id) => {
          await ec2.send(
            new CreateTagsCommand({ Resources: [id], Tags: [{ Key: BLOCKS_WRITTEN_TAG, Value: 'true' }] }),
          );
        },
      },
      onProgress: throttledProgress(ctx, input.volume.sizeGiB * GIB),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    }));
  } catch (error) {
    // CompleteSnapshot again on a snapshot EBS already took as complete may be refused: it only needs waiting for.
    if (!sealed || classifyAwsError(error).retryable) throw error;
  }
  return waitForSnapshotCompleted(ec2, snapshotId, ctx.completionWaitMs);
}

/** Emulated attach: the device node appears as a sparse file of the volume's size (see `deviceFolder`). */
async function emulateDeviceNode(folder: string, volumeId: string, sizeGiB: number): Promise<void> {
  await mkdir(folder, { recursive: true });
  const file = await open(join(folder, volumeId), 'a');
  try {
    if ((await file.stat()).size === 0) await file.truncate(sizeGiB * GIB);
  } finally {
    await file.close();
  }
}

async function workerAvailabilityZone(ec2: EC2Client, instanceId: string): Promise<string> {
  const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const zone = Reservations[0]?.Instances?.[0]?.Placement?.AvailabilityZone;
  if (!zone)
    throw new Error(`worker instance ${instanceId} (WORKER_INSTANCE_ID) was not found in the target region`);
  return zone;
}

// Jobs of this process attach one at a time, so two never pick the same free device name.
let attachQueue: Promise<unknown> = Promise.resolve();

async function attachToWorker(ec2: EC2Client, volumeId: string, instanceId: string): Promise<void> {
  const run = attachQueue.then(async () => {
    const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    if (Volumes[0]?.Attachments?.some((a) => a.InstanceId === instanceId)) return;
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const used = new Set(Reservations[0]?.Instances?.[0]?.BlockDeviceMappings?.map((m) => m.DeviceName));
    for (const device of WORKER_DEVICE_NAMES) {
      if (used.has(device)) continue;
      try {
        await ec2.send(
          new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }),
        );
        return;
      } catch (error) {
        // Another process on this instance took the name meanwhile ("Attachment point ... is already in use").
        if (/already in use/i.test(classifyAwsError(error).message)) continue;
        throw error;
      }
    }
    // Another attempt later: the other jobs on this instance free their slots when they finish.
    throw new StepPendingError(`a free device slot on worker instance ${instanceId}`, RECHECK_MS);
  });
  attachQueue = run.catch(() => {});
  await run;
}

/** Detaches the temporary volume from the worker (naming its device: some EC2 implementations need it). */
async function detachFromWorker(ec2: EC2Client, volumeId: string, instanceId: string): Promise<void> {
  const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  const attachment = Volumes[0]?.Attachments?.find((a) => a.InstanceId === instanceId);
  if (!attachment) return;
  await ec2.send(
    new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: attachment.Device }),
  );
}

async function waitForVolume(ec2: EC2Client, volumeId: string, attached: boolean): Promise<void> {
  const ok = await pollUntil(
    async () => {
      const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      const volume = Volumes[0];
      const state = attached
        ? volume?.State === 'in-use' && volume.Attachments?.every((a) => a.State === 'attached')
        : volume?.State === 'available';
      return state ? true : undefined;
    },
    { timeoutMs: SHORT_WAIT_MS },
  );
  if (!ok)
    throw new StepPendingError(`volume ${volumeId} to be ${attached ? 'attached' : 'detached'}`, RECHECK_MS);
}

async function workerVolume(input: SnapshotJobInput, ctx: SnapshotStepContext, kmsKeyArn: string) {
  const instanceId = ctx.workerInstanceId;
  if (!instanceId) {
    throw new PermanentStepError(
      'dataPath worker-volume is not available on this snapshot worker: it writes through a volume attached to ' +
        'the EC2 instance the worker runs on, so the worker needs WORKER_INSTANCE_ID (that instance) and access ' +
        'to its block devices (in docker: privileged, /dev mounted). Use dataPath ebs-direct, or configure it.',
      { code: 'internal_error', category: 'internal' },
    );
  }
  const clients = ctx.clients.source(input.region);
  const { ec2 } = clients;
  const owner = { restoreId: input.restoreId, step: STEP, deviceName: input.volume.deviceName };

  // Resume: a snapshot exists once the data was written and the volume detached.
  const snapshotMade = (await findTaggedSnapshots(ec2, owner)).find(
    (s) =>
      s.VolumeId !== undefined && s.Tags?.some((t) => t.Key === SOURCE_VOLUME_TAG && t.Value === s.VolumeId),
  );
  if (!snapshotMade) {
    await ctx.checkpoint();
    const volume = await ensureVolume(clients, {
      owner,
      availabilityZone: await workerAvailabilityZone(ec2, instanceId),
      sizeGiB: input.volume.sizeGiB,
      kmsKeyArn,
      volumeType: input.volume.volumeType,
      ...(input.volume.iops ? { iops: input.volume.iops } : {}),
      ...(input.volume.throughput ? { throughput: input.volume.throughput } : {}),
      clientToken: clientTokenFor(input.restoreId, STEP, input.volume.deviceName, 'create-volume'),
    });
    const volumeId = volume.VolumeId ?? '';
    await attachToWorker(ec2, volumeId, instanceId);
    await waitForVolume(ec2, volumeId, true);
    const total = input.volume.sizeGiB * GIB;
    if (ctx.deviceFolder) await emulateDeviceNode(ctx.deviceFolder, volumeId, input.volume.sizeGiB);
    const writer = new WorkerVolumeWriter({
      repository: ctx.repository,
      ...(ctx.deviceFolder ? { deviceFolder: ctx.deviceFolder } : {}),
    });
    const written = await writer.writeVolume({
      restorePointId: input.restorePointId,
      deviceName: input.volume.deviceName,
      target: { volumeId },
      onProgress: throttledProgress(ctx, total),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    await ctx.progress(total, total);
    if (input.verify) {
      // Before the snapshot: a volume that does not hold the restore point never becomes one. A failure
      // leaves the tagged volume attached; the cleanup detaches and deletes it.
      await ctx.checkpoint();
      await ctx.progress(0, total, 'verify');
      await assertDeviceMatchesRestorePoint(written.devicePath, volumeId, readBackSubject(input, ctx));
      await ctx.progress(total, total, 'verify');
    }
    await detachFromWorker(ec2, volumeId, instanceId);
    await waitForVolume(ec2, volumeId, false);
    const created = await ec2.send(
      new CreateSnapshotCommand({
        VolumeId: volumeId,
        Description: `ec2-restore ${input.restoreId} ${input.volume.deviceName}`,
        TagSpecifications: tagSpecification(
          'snapshot',
          restoreTags(owner, { [SOURCE_VOLUME_TAG]: volumeId }),
        ),
      }),
    );
    return finishWorkerVolume(ec2, owner, created.SnapshotId ?? '', ctx.completionWaitMs);
  }
  return finishWorkerVolume(ec2, owner, snapshotMade.SnapshotId ?? '', ctx.completionWaitMs);
}

/** Waits for the snapshot, then deletes the temporary volume (its data is in the snapshot now). */
async function finishWorkerVolume(
  ec2: EC2Client,
  owner: { restoreId: string; step: string; deviceName: string },
  snapshotId: string,
  waitMs?: number,
): Promise<Snapshot> {
  const snapshot = await waitForSnapshotCompleted(ec2, snapshotId, waitMs);
  for (const volume of await findTaggedVolumes(ec2, owner)) {
    if (volume.State === 'available') await ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId }));
  }
  return snapshot;
}

/**
 * The snapshot step (docs/architecture.md#the-two-flows, step 1), one job per volume, in the target region
 * of the source account: re-checks the key, writes the volume's data into an encrypted snapshot
 * (`ebs-direct`, or `worker-volume` through a volume attached to this worker) and reports progress
 * in bytes. With `verify`, reads every block back and fails the restore, naming the blocks, when one
 * differs from the restore point. Re-runnable: a completed snapshot of this restore and device is
 * found by tag and kept (and read back again when verifying).
 */
export async function writeVolumeSnapshot(
  input: SnapshotJobInput,
  ctx: SnapshotStepContext,
): Promise<SnapshotJobResult> {
  await ctx.checkpoint();
  const kmsKeyArn = await snapshotKeyArn(input, ctx);
  const total = input.volume.sizeGiB * GIB;
  let snapshot: Snapshot;
  if (input.dataPath === 'ebs-direct') {
    snapshot = await ebsDirect(input, ctx, kmsKeyArn);
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
    // worker-volume verifies inside, before the snapshot is taken.
    snapshot = await workerVolume(input, ctx, kmsKeyArn);
    await ctx.progress(total, total);
  }
  return resultOf(input, snapshot, kmsKeyArn);
}

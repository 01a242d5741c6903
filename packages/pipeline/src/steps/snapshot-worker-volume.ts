import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Snapshot,
} from '@aws-sdk/client-ec2';
import type { KMSClient } from '@aws-sdk/client-kms';
import { classifyAwsError } from '@ec2-restore/aws-clients';
import { clientTokenFor, GIB, JobName, type SnapshotJobInput } from '@ec2-restore/contracts';
import { WorkerVolumeWriter } from '@ec2-restore/snapshot-writers';
import { ensureVolume } from '../aws/ensure-volume.ts';
import { pollUntil } from '../aws/poll.ts';
import {
  findStepSnapshots,
  findTaggedVolumes,
  restoreTags,
  SOURCE_VOLUME_TAG,
  stepSnapshotDescription,
  tagSpecification,
} from '../aws/restore-tags.ts';
import { waitForSnapshotCompleted } from '../aws/wait-for-snapshot.ts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { assertDeviceMatchesRestorePoint } from './read-back.ts';
import { readBackSubject, type SnapshotStepContext, throttledProgress } from './snapshot-step-context.ts';

const STEP = JobName.Snapshot;
const SHORT_WAIT_MS = 30_000;
const RECHECK_MS = 10_000;
/** Device names tried for the temporary volume on the worker instance (the EC2 recommended range). */
const WORKER_DEVICE_NAMES = 'fghijklmnop'.split('').map((letter) => `/dev/sd${letter}`);

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

/**
 * The `worker-volume` data path: a volume attached to this worker, written through its block device,
 * read back when verifying, detached, snapshotted, and deleted once the snapshot completed. Resumes
 * from the snapshot when an earlier attempt got that far.
 */
export async function workerVolume(input: SnapshotJobInput, ctx: SnapshotStepContext, kmsKeyArn: string) {
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

  // Resume: a snapshot of the temporary volume exists once the data was written and the volume detached.
  const snapshotMade = (await findStepSnapshots(ec2, owner)).find((s) =>
    s.Tags?.some((t) => t.Key === SOURCE_VOLUME_TAG),
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
        Description: stepSnapshotDescription(input.restoreId, input.volume.deviceName),
        TagSpecifications: tagSpecification(
          'snapshot',
          restoreTags(owner, { [SOURCE_VOLUME_TAG]: volumeId }),
        ),
      }),
    );
    return finishWorkerVolume(clients, owner, created.SnapshotId ?? '', ctx.completionWaitMs);
  }
  return finishWorkerVolume(clients, owner, snapshotMade.SnapshotId ?? '', ctx.completionWaitMs);
}

/** Waits for the snapshot, then deletes the temporary volume (its data is in the snapshot now). */
async function finishWorkerVolume(
  clients: { ec2: EC2Client; kms: KMSClient },
  owner: { restoreId: string; step: string; deviceName: string },
  snapshotId: string,
  waitMs?: number,
): Promise<Snapshot> {
  const { ec2 } = clients;
  const snapshot = await waitForSnapshotCompleted(clients, snapshotId, waitMs);
  for (const volume of await findTaggedVolumes(ec2, owner)) {
    if (volume.State === 'available') await ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId }));
  }
  return snapshot;
}

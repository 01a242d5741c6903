/**
 * The job processors of each queue, next to the steps they run: each parses its job with its zod
 * contract and calls one step function. A worker service picks the map of its queue.
 */
import type { BackupRepository } from '@ec2-restore/backup-repository';
import {
  cleanupJobInputSchema,
  instanceJobInputSchema,
  JobName,
  shareJobInputSchema,
  snapshotJobInputSchema,
} from '@ec2-restore/contracts';
import type { StepProcessor } from '../queue/step-worker.ts';
import { cleanupRestore } from './cleanup.ts';
import { restoreInstance } from './instance.ts';
import { shareSnapshots } from './share.ts';
import { writeVolumeSnapshot } from './snapshot.ts';

export interface SnapshotWorkerDeps {
  repository: BackupRepository;
  workerInstanceId?: string;
  deviceFolder?: string;
  inFlight?: number;
  /** PutSnapshotBlock requests per second per snapshot (`ebs-direct`). @defaultValue the writer's (950) */
  putsPerSecond?: number;
  /**
   * How long a snapshot step waits in the job for its snapshot to complete before the wait goes back
   * to the queue as a delayed job. @defaultValue the step's (30000)
   */
  completionWaitMs?: number;
}

/** The snapshot queue's one job: the snapshot step of one volume. */
export function snapshotProcessors(deps: SnapshotWorkerDeps): Record<typeof JobName.Snapshot, StepProcessor> {
  return {
    [JobName.Snapshot]: (data, ctx) =>
      writeVolumeSnapshot(snapshotJobInputSchema.parse(data), {
        ...ctx,
        repository: deps.repository,
        ...(deps.workerInstanceId ? { workerInstanceId: deps.workerInstanceId } : {}),
        ...(deps.deviceFolder ? { deviceFolder: deps.deviceFolder } : {}),
        ...(deps.inFlight ? { inFlight: deps.inFlight } : {}),
        ...(deps.putsPerSecond !== undefined ? { putsPerSecond: deps.putsPerSecond } : {}),
        ...(deps.completionWaitMs !== undefined ? { completionWaitMs: deps.completionWaitMs } : {}),
      }),
  };
}

/** The share queue's one job: the share step on its children's snapshots. */
export function shareProcessors(): Record<typeof JobName.Share, StepProcessor> {
  return {
    [JobName.Share]: async (data, ctx) =>
      shareSnapshots(shareJobInputSchema.parse(data), await ctx.childSnapshotResults(), ctx),
  };
}

/**
 * The instance queue's two jobs: the instance step (on the snapshots its children made) and the
 * cleanup that follows every restore.
 */
export function instanceProcessors(): Record<
  typeof JobName.Instance | typeof JobName.Cleanup,
  StepProcessor
> {
  return {
    [JobName.Instance]: async (data, ctx) =>
      restoreInstance(instanceJobInputSchema.parse(data), await ctx.childSnapshotResults(), ctx),
    [JobName.Cleanup]: (data, ctx) => cleanupRestore(cleanupJobInputSchema.parse(data), ctx),
  };
}

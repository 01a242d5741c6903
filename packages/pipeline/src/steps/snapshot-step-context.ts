import type { BackupRepository } from '@ec2-restore/backup-repository';
import { GIB, type SnapshotJobInput, type VolumePhase } from '@ec2-restore/contracts';
import type { ProgressSink, StepContext } from './step-context.ts';

export interface SnapshotStepContext extends StepContext {
  repository: BackupRepository;
  /** Aborts a write in progress (the restore was cancelled). */
  signal?: AbortSignal;
  progress: ProgressSink;
  /** PutSnapshotBlock calls in flight per volume (`ebs-direct`). @defaultValue the writer's (64) */
  inFlight?: number;
  /**
   * PutSnapshotBlock requests per second per snapshot (`ebs-direct`; 0: no spacing).
   * @defaultValue the writer's (950, under AWS's quota of 1,000)
   */
  putsPerSecond?: number;
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

/** Reports progress at most once a second (and at the end), never failing the write. */
export function throttledProgress(
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
export function readBackSubject(input: SnapshotJobInput, ctx: SnapshotStepContext) {
  return {
    repository: ctx.repository,
    restorePointId: input.restorePointId,
    deviceName: input.volume.deviceName,
    onProgress: throttledProgress(ctx, input.volume.sizeGiB * GIB, 'verify'),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

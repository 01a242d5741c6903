import type { BackupRepository } from '@ec2-restore/backup-repository';
import { JobName, snapshotJobInputSchema } from '@ec2-restore/contracts';
import { type StepProcessor, writeVolumeSnapshot } from '@ec2-restore/pipeline';

export interface SnapshotWorkerDeps {
  repository: BackupRepository;
  workerInstanceId?: string;
  deviceFolder?: string;
  inFlight?: number;
}

/** The snapshot queue's one job: parse it with its contract, run the snapshot step. */
export function snapshotProcessors(deps: SnapshotWorkerDeps): Record<typeof JobName.Snapshot, StepProcessor> {
  return {
    [JobName.Snapshot]: (data, ctx) =>
      writeVolumeSnapshot(snapshotJobInputSchema.parse(data), {
        ...ctx,
        repository: deps.repository,
        ...(deps.workerInstanceId ? { workerInstanceId: deps.workerInstanceId } : {}),
        ...(deps.deviceFolder ? { deviceFolder: deps.deviceFolder } : {}),
        ...(deps.inFlight ? { inFlight: deps.inFlight } : {}),
      }),
  };
}

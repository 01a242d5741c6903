/** The snapshot worker: `node --import tsx services/snapshot-worker/src/main.ts` (variables in README.md). */
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { backupRepositoryField, wholeNumberField } from '@ec2-restore/config';
import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  serveQueue,
  snapshotProcessors,
} from '@ec2-restore/pipeline';
import { z } from 'zod';

const envSchema = baseWorkerEnvSchema.extend({
  BACKUP_REPOSITORY: backupRepositoryField,
  SNAPSHOT_WORKER_CONCURRENCY: concurrencySchema(4),
  WORKER_INSTANCE_ID: z
    .string()
    .regex(
      /^i-[0-9a-f]+$/,
      'must be the id of the EC2 instance this worker runs on, e.g. i-0123456789abcdef0',
    )
    .optional(),
  WORKER_DEVICE_DIR: z.string().min(1).optional(),
  EBS_DIRECT_IN_FLIGHT: wholeNumberField(
    'a whole number of PutSnapshotBlock calls, e.g. 64',
    1,
    1000,
  ).optional(),
  EBS_DIRECT_PUTS_PER_SECOND: wholeNumberField(
    'a whole number of PutSnapshotBlock requests per second per snapshot, e.g. 950 (0: no spacing)',
    0,
    100_000,
  ).optional(),
});

serveQueue(QueueName.Snapshot, envSchema, (env) => ({
  concurrency: env.SNAPSHOT_WORKER_CONCURRENCY,
  processors: snapshotProcessors({
    repository: openBackupRepository(env.BACKUP_REPOSITORY),
    ...(env.WORKER_INSTANCE_ID ? { workerInstanceId: env.WORKER_INSTANCE_ID } : {}),
    ...(env.WORKER_DEVICE_DIR ? { deviceFolder: env.WORKER_DEVICE_DIR } : {}),
    ...(env.EBS_DIRECT_IN_FLIGHT ? { inFlight: env.EBS_DIRECT_IN_FLIGHT } : {}),
    ...(env.EBS_DIRECT_PUTS_PER_SECOND !== undefined
      ? { putsPerSecond: env.EBS_DIRECT_PUTS_PER_SECOND }
      : {}),
  }),
}));

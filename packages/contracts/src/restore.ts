import { z } from 'zod';
import { errorCategorySchema } from './errors.ts';
import { launchStrategySchema } from './launch-strategy.ts';
import { accountIdSchema, deviceNameSchema, regionSchema, restoreRequestSchema } from './request.ts';
import { restoreStatuses, stepStatuses } from './statuses.ts';

/** Same account (worker role's account is the target account) or another account. */
export const restoreModeSchema = z.enum(['same-account', 'cross-account']);
export type RestoreMode = z.infer<typeof restoreModeSchema>;

export const restoreStatusSchema = z.enum(restoreStatuses);
export const stepStatusSchema = z.enum(stepStatuses);

const timestampSchema = z.iso.datetime({ offset: true }).describe('ISO 8601 timestamp');

/** One step of a restore as it runs (the step names are the job names of the flow). */
export const restoreStepSchema = z.object({
  name: z.string().describe('Step name, e.g. "snapshot:/dev/xvdf", "share", "instance".'),
  status: stepStatusSchema,
  attempts: z.number().int().nonnegative(),
  startedAt: timestampSchema.nullable(),
  finishedAt: timestampSchema.nullable(),
});
export type RestoreStep = z.infer<typeof restoreStepSchema>;

/** What the snapshot step of a volume is doing: writing its data, or reading it back (`verify: true`). */
export const volumePhaseSchema = z.enum(['write', 'verify']);
export type VolumePhase = z.infer<typeof volumePhaseSchema>;

export const restoreProgressSchema = z.object({
  bytesTotal: z.number().int().nonnegative(),
  bytesDone: z.number().int().nonnegative(),
  volumes: z.array(
    z.object({
      deviceName: deviceNameSchema,
      bytesTotal: z.number().int().nonnegative(),
      bytesDone: z.number().int().nonnegative().describe('Bytes written.'),
      phase: volumePhaseSchema.describe(
        'write until the data is written; verify while it is read back (verified restores only).',
      ),
      bytesVerified: z
        .number()
        .int()
        .nonnegative()
        .describe('Bytes read back and compared with the restore point (verified restores only).'),
    }),
  ),
});
export type RestoreProgress = z.infer<typeof restoreProgressSchema>;

/** The data of a `progress` event (GET /v1/restores/{id}/events): one volume's bytes and the total. */
export interface ProgressEventData {
  deviceName: string;
  bytesDone: number;
  bytesTotal: number;
  totalDone: number;
  total: number;
  /** Present on events of the verify phase. */
  phase?: 'verify';
  bytesVerified?: number;
}

/** One volume a restore made, encrypted with the target key. */
export const restoredVolumeSchema = z.object({
  deviceName: deviceNameSchema,
  volumeId: z.string(),
  kmsKeyId: z.string().describe('ARN of the key the volume is encrypted with.'),
  sizeGiB: z.number().int().positive(),
});
export type RestoredVolume = z.infer<typeof restoredVolumeSchema>;

/** What a restore made; also the instance job's result, which becomes it once cleanup is done. */
export const restoreResultSchema = z.object({
  instanceId: z
    .string()
    .nullable()
    .describe(
      'The restored instance, the existing one for a volume-level restore into an instance, or null for a volume-level restore into no instance.',
    ),
  accountId: accountIdSchema,
  region: regionSchema,
  volumes: z.array(restoredVolumeSchema),
  launchStrategy: launchStrategySchema
    .optional()
    .describe(
      'How the instance was launched (docs/architecture.md#launch-strategies); absent for a volume-level restore.',
    ),
});
export type RestoreResult = z.infer<typeof restoreResultSchema>;

/** A block whose data read back differs from the restore point. */
export const blockMismatchSchema = z.object({
  blockIndex: z.number().int().nonnegative().describe('Index of the 512 KiB block in the volume.'),
  expectedSha256: z.string().describe('SHA-256 (hex) of the block in the restore point.'),
  actualSha256: z
    .string()
    .nullable()
    .describe('SHA-256 (hex) of the block as read back; null when the snapshot has no such block.'),
});
export type BlockMismatchInfo = z.infer<typeof blockMismatchSchema>;

/** What a failed read-back found (error code `verification_failed`). */
export const verificationFailureSchema = z.object({
  deviceName: deviceNameSchema,
  /** The snapshot read back (ebs-direct) or the volume read back (worker-volume). */
  resourceId: z.string().describe('The snapshot (ebs-direct) or worker volume (worker-volume) read back.'),
  restorePointId: z.string(),
  blocksChecked: z.number().int().nonnegative(),
  mismatchCount: z.number().int().nonnegative().describe('How many blocks differ, in all.'),
  mismatches: z
    .array(blockMismatchSchema)
    .describe('The differing blocks with the lowest indexes (at most 100), ascending by block index.'),
});
export type VerificationFailure = z.infer<typeof verificationFailureSchema>;

/** Why a restore failed. */
export const restoreErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  category: errorCategorySchema,
  step: z.string().nullable(),
  awsRequestId: z.string().nullable(),
  verification: verificationFailureSchema
    .optional()
    .describe('Set when a verified restore found blocks that differ (code verification_failed).'),
});
export type RestoreError = z.infer<typeof restoreErrorSchema>;

/** The restore resource of `GET /v1/restores/{id}` (docs/architecture.md#the-public-interface). */
export const restoreSchema = z.object({
  id: z.string(),
  status: restoreStatusSchema,
  mode: restoreModeSchema,
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
  request: restoreRequestSchema,
  steps: z.array(restoreStepSchema),
  progress: restoreProgressSchema,
  result: restoreResultSchema.nullable(),
  error: restoreErrorSchema.nullable(),
});
export type Restore = z.infer<typeof restoreSchema>;

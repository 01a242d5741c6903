/**
 * The input and result of every pipeline job, as zod schemas (the one source of truth: the workers
 * parse with them, Bull Board shows the JSON Schema generated from them).
 *
 * Jobs carry everything their step needs, so a worker never has to read the restore request back
 * from the store to act; the store only records status and progress.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type JobName, type QueueName, queueForJob } from './queues.ts';
import {
  accountIdSchema,
  dataPathSchema,
  deviceNameSchema,
  instanceOptionsSchema,
  kmsGrantSchema,
  kmsKeyIdSchema,
  regionSchema,
  roleArnSchema,
} from './request.ts';
import { restoreModeSchema, restoreResultSchema } from './restore.ts';
import { restorePointInstanceSchema, restorePointVolumeSchema } from './restore-point.ts';

// BullMQ job ids are `<prefix>:<queue>:<id>` keys, so an id may not contain `:` (docs/architecture.md#services-and-queues).
const restoreIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/,
    'a restore id is 1-100 letters, digits, "-" or "_" (it becomes part of BullMQ job ids, which may not contain ":")',
  );

/** One volume as the snapshot step restores it: a volume of the restore point. */
export const flowVolumeSchema = restorePointVolumeSchema;
export type FlowVolume = z.infer<typeof flowVolumeSchema>;

/**
 * What the instance step needs to know about the backed-up instance: its boot and licensing
 * attributes, its tags (defaults under the request's) and each volume's DeleteOnTermination.
 */
export const flowRestorePointInstanceSchema = restorePointInstanceSchema
  .pick({
    instanceType: true,
    rootDeviceName: true,
    architecture: true,
    platform: true,
    bootMode: true,
    enaSupport: true,
    imdsHttpTokens: true,
    virtualizationType: true,
    billing: true,
  })
  .partial({ platform: true })
  .extend({
    tags: z.record(z.string(), z.string()).optional(),
    deleteOnTermination: z.record(z.string(), z.boolean()).optional(),
  });
export type FlowRestorePointInstance = z.infer<typeof flowRestorePointInstanceSchema>;

const targetFields = {
  restoreId: restoreIdSchema,
  mode: restoreModeSchema,
  region: regionSchema,
  sourceAccountId: accountIdSchema,
  targetAccountId: accountIdSchema,
  roleArn: roleArnSchema.optional(),
  externalId: z.string().optional(),
};

/** The jobs that read the restore point: what to restore, and the target key. */
const restorePointFields = {
  ...targetFields,
  restorePointId: z.string().min(1),
  /** Same account: the snapshot is encrypted with this key. Another account: the source default key is used. */
  targetKmsKeyId: kmsKeyIdSchema,
};

// ---------------------------------------------------------------------------------------------
// snapshot: one job per volume, in the target region of the source account.

export const snapshotJobInputSchema = z.object({
  ...restorePointFields,
  dataPath: dataPathSchema,
  volume: flowVolumeSchema,
  /** Read the written data back and compare it with the restore point (the request's `verify`). */
  verify: z.boolean().default(false),
  /** Another account: write with the transfer key, not the source default key (the request's `transferKey`). */
  transferKey: z.boolean().default(false),
});
export type SnapshotJobInput = z.infer<typeof snapshotJobInputSchema>;

export const snapshotJobResultSchema = z.object({
  deviceName: deviceNameSchema,
  snapshotId: z.string().regex(/^snap-[0-9a-f]+$/),
  /** The key ARN the snapshot is encrypted with. */
  kmsKeyId: z.string(),
  sizeGiB: z.number().int().positive(),
  volumeType: z.string(),
  iops: z.number().int().positive().optional(),
  throughput: z.number().int().positive().optional(),
  bytesWritten: z.number().int().nonnegative(),
});
export type SnapshotJobResult = z.infer<typeof snapshotJobResultSchema>;

// ---------------------------------------------------------------------------------------------
// share: another account only; its children are the snapshot jobs.

export const shareJobInputSchema = z.object({
  ...targetFields,
  roleArn: roleArnSchema,
  kmsGrant: kmsGrantSchema,
  /** Share (and grant) the transfer key, not the source default key (the request's `transferKey`). */
  transferKey: z.boolean().default(false),
});
export type ShareJobInput = z.infer<typeof shareJobInputSchema>;

export const kmsGrantRefSchema = z.object({ keyId: z.string(), grantId: z.string() });
export type KmsGrantRef = z.infer<typeof kmsGrantRefSchema>;

export const shareJobResultSchema = z.object({
  snapshots: z.array(snapshotJobResultSchema),
  grant: kmsGrantRefSchema.nullable(),
});
export type ShareJobResult = z.infer<typeof shareJobResultSchema>;

// ---------------------------------------------------------------------------------------------
// instance: target account; the flow's root. Its children are the share job or the snapshot jobs.

export const instanceJobInputSchema = z.object({
  ...restorePointFields,
  instance: instanceOptionsSchema,
  restorePoint: flowRestorePointInstanceSchema,
  /** Volume-level restore: only these device names, attached to `instance.instanceId` or to none. */
  volumes: z.array(deviceNameSchema).optional(),
});
export type InstanceJobInput = z.infer<typeof instanceJobInputSchema>;

/** The restore's `result` (docs/architecture.md#the-public-interface), once cleanup is done. */
export const instanceJobResultSchema = restoreResultSchema;
export type InstanceJobResult = z.infer<typeof instanceJobResultSchema>;

// ---------------------------------------------------------------------------------------------
// cleanup: after the flow ends (success, final failure or cancel).

export const restoreOutcomeSchema = z.enum(['succeeded', 'failed', 'cancelled']);
export type RestoreOutcome = z.infer<typeof restoreOutcomeSchema>;

export const cleanupJobInputSchema = z.object({
  ...targetFields,
  outcome: restoreOutcomeSchema,
});
export type CleanupJobInput = z.infer<typeof cleanupJobInputSchema>;

export const cleanupJobResultSchema = z.object({
  unsharedSnapshots: z.array(z.string()),
  deletedSnapshots: z.array(z.string()),
  deletedVolumes: z.array(z.string()),
  terminatedInstances: z.array(z.string()),
  retiredGrants: z.array(z.string()),
  /** The temporary images of the register-image launch strategy. */
  deregisteredImages: z.array(z.string()).default([]),
});
export type CleanupJobResult = z.infer<typeof cleanupJobResultSchema>;

// ---------------------------------------------------------------------------------------------

/** Input and result schema of each job, keyed by job name (exhaustive over `JobName`). */
export const jobContracts = {
  snapshot: { input: snapshotJobInputSchema, result: snapshotJobResultSchema },
  share: { input: shareJobInputSchema, result: shareJobResultSchema },
  instance: { input: instanceJobInputSchema, result: instanceJobResultSchema },
  cleanup: { input: cleanupJobInputSchema, result: cleanupJobResultSchema },
} as const satisfies Record<JobName, { input: z.ZodType; result: z.ZodType }>;

export type JobInput<N extends JobName> = z.infer<(typeof jobContracts)[N]['input']>;
export type JobResult<N extends JobName> = z.infer<(typeof jobContracts)[N]['result']>;

/**
 * JSON Schema of the data of the jobs on a queue, for Bull Board's `jobDataSchema`. A queue that
 * carries several job names gets an `anyOf`.
 */
export function jobDataJsonSchema(queue: QueueName): Record<string, unknown> {
  const names = (Object.keys(jobContracts) as JobName[]).filter((name) => queueForJob[name] === queue);
  const schemas = names.map((name) => z.toJSONSchema(jobContracts[name].input, { io: 'input' }));
  if (schemas.length === 1) return schemas[0] as Record<string, unknown>;
  return { anyOf: schemas };
}

// ---------------------------------------------------------------------------------------------
// Deterministic identities: a retried or re-submitted step computes the same ids.

/** Short, job-id-safe form of a device name: `/dev/xvdb` -> `xvdb`. */
export function deviceSlug(deviceName: string): string {
  return deviceName.replace(/^\/dev\//, '').replace(/[^A-Za-z0-9_-]/g, '-');
}

/**
 * BullMQ job id of a step of a restore: `<restoreId>.<step>[.<device>]`. Never contains `:`.
 * Adding a job with an id that exists is a no-op, so re-adding a flow or a cleanup dedups.
 */
export function jobIdFor(restoreId: string, step: JobName, deviceName?: string): string {
  const id = deviceName ? `${restoreId}.${step}.${deviceSlug(deviceName)}` : `${restoreId}.${step}`;
  if (id.includes(':')) throw new Error(`job id "${id}" contains ":", which BullMQ job ids may not contain`);
  return id;
}

/**
 * Which cleanup of a restore: the first (after the flow ended), a second pass for what a job made after
 * the first looked (`afterJob`), the one after a job refused for not being what the API accepted
 * (`refusedJob`), or the one that undoes a restore cancelled while it was finishing.
 */
export type CleanupPass = { afterJob: string } | { refusedJob: string } | 'cancelled';

/** Job id of a cleanup of a restore: `<restoreId>.cleanup[.after-<jobId>|.refused-<jobId>|.cancelled]`; the id dedups requests. */
export function cleanupJobIdFor(restoreId: string, pass?: CleanupPass): string {
  const first = jobIdFor(restoreId, 'cleanup');
  if (pass === undefined) return first;
  if (pass === 'cancelled') return `${first}.cancelled`;
  return 'afterJob' in pass ? `${first}.after-${pass.afterJob}` : `${first}.refused-${pass.refusedJob}`;
}

/**
 * ClientToken for one AWS create call of a step. EC2 and EBS accept up to 64 ASCII characters; the
 * same token with other parameters is refused (IdempotentParameterMismatch), so the parts must name
 * exactly one call (e.g. `['snapshot', '/dev/xvdb', 'create-volume']`).
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
 */
export function clientTokenFor(restoreId: string, ...parts: string[]): string {
  const digest = createHash('sha256')
    .update([restoreId, ...parts].join('\u0000'))
    .digest('hex');
  return `ec2r-${digest.slice(0, 48)}`;
}

/** Tags put on everything a restore creates, so a re-run step and the sweep find it. */
export const RestoreTag = {
  RestoreId: 'ec2-restore:restore-id',
  Step: 'ec2-restore:step',
  Device: 'ec2-restore:device',
} as const;

// Values of the RestoreTag.Step tag, besides the step names (JobName), for what the instance step
// makes on the way. Cleanup (pipeline) and the sweep (sweeper) find the temporary ones by them.

/** The root volume a launch-and-swap instance was launched with, once swapped out (temporary). */
export const LAUNCH_ROOT_STEP = 'instance-launch-root';
/**
 * Every volume RunInstances creates from a base image's mappings (a tag specification cannot pick one
 * device). Only the root one is re-tagged {@link LAUNCH_ROOT_STEP} when it is swapped out; the others
 * belong to the instance.
 */
export const LAUNCH_VOLUME_STEP = 'instance-launch';
/**
 * The temporary image of the register-image strategy and the target-owned copy of the root snapshot
 * it is registered from (temporary: cleanup and the sweep remove both, the image first).
 */
export const IMAGE_STEP = 'instance-image';

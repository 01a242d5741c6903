import { z } from 'zod';
import { checkSchema } from './checks.ts';
import { launchStrategySchema } from './launch-strategy.ts';
import { accountIdSchema, deviceNameSchema, regionSchema } from './request.ts';
import { restoreModeSchema } from './restore.ts';

/** Which credentials a step runs with. */
export const stepPrincipalSchema = z
  .enum(['worker-role', 'restore-role'])
  .describe(
    'worker-role: the credentials the workers run with; restore-role: the role assumed in the target account.',
  );
export type StepPrincipal = z.infer<typeof stepPrincipalSchema>;

/** The names of the steps a plan lists, in the order they may run. */
export const planStepNames = [
  'create-transfer-key',
  'create-worker-volume',
  'write-volume',
  'snapshot-volume',
  'write-snapshot',
  'verify-volume',
  'verify-snapshot',
  'share-snapshot',
  'grant-source-key',
  'copy-root-snapshot',
  'register-image',
  'create-instance',
  'create-volume',
  'attach-volume',
  'cleanup',
] as const;
export const planStepNameSchema = z.enum(planStepNames);
export type PlanStepName = z.infer<typeof planStepNameSchema>;

/** One step the restore will take. Per-volume steps name their device. */
export const planStepSchema = z.object({
  name: planStepNameSchema,
  description: z.string(),
  principal: stepPrincipalSchema,
  accountId: accountIdSchema
    .nullable()
    .describe('The account the step acts in; null when it could not be determined.'),
  region: regionSchema,
  deviceName: deviceNameSchema.nullable(),
});
export type PlanStep = z.infer<typeof planStepSchema>;

export const plannedResourceKindSchema = z.enum([
  'ebs-volume',
  'ebs-snapshot',
  'snapshot-share',
  'kms-grant',
  'kms-key',
  'ec2-instance',
  'ec2-image',
]);
export type PlannedResourceKind = z.infer<typeof plannedResourceKindSchema>;

/** A resource the restore will create; temporary ones are removed at the end, success or failure. */
export const plannedResourceSchema = z.object({
  kind: plannedResourceKindSchema,
  step: planStepNameSchema.describe('The step that creates it.'),
  accountId: accountIdSchema.nullable(),
  region: regionSchema,
  deviceName: deviceNameSchema.nullable(),
  kmsKeyId: z.string().nullable().describe('The key it is encrypted with (or the key a grant is for).'),
  sizeGiB: z.number().int().positive().nullable(),
  temporary: z.boolean(),
  description: z.string(),
});
export type PlannedResource = z.infer<typeof plannedResourceSchema>;

/** The key the shared snapshots are encrypted with (another account only): the one the target gets rights on. */
export const sharedKeySchema = z.object({
  kind: z
    .enum(['source-default', 'transfer'])
    .describe(
      "source-default: the source account's EBS default key; transfer: the product's transfer key for the restore role (request option transferKey).",
    ),
  keyId: z.string().nullable().describe('Its key ARN; null when it does not exist yet or could not be read.'),
  alias: z.string().nullable().describe('The alias it is found by (the transfer key), else null.'),
  createdOnFirstUse: z.boolean().describe('The transfer key does not exist yet: this restore creates it.'),
});
export type SharedKey = z.infer<typeof sharedKeySchema>;

/** The answer of `POST /v1/restores/plan`: creates nothing. `ok` is true when no check failed. */
export const planResultSchema = z.object({
  ok: z.boolean(),
  mode: restoreModeSchema.nullable().describe('null when the worker identity could not be determined.'),
  checks: z.array(checkSchema),
  steps: z.array(planStepSchema),
  resources: z.array(plannedResourceSchema),
  sharedKey: sharedKeySchema
    .nullable()
    .describe('Another account: the key the shared snapshots are encrypted with; null for the same account.'),
  launch: z
    .object({ strategy: launchStrategySchema, reason: z.string() })
    .nullable()
    .describe(
      'How the instance will be launched (docs/architecture.md#launch-strategies) and why; null for a volume-level restore.',
    ),
});
export type PlanResult = z.infer<typeof planResultSchema>;

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

/** The answer of `POST /v1/restores/plan`: creates nothing. `ok` is true when no check failed. */
export const planResultSchema = z.object({
  ok: z.boolean(),
  mode: restoreModeSchema.nullable().describe('null when the worker identity could not be determined.'),
  checks: z.array(checkSchema),
  steps: z.array(planStepSchema),
  resources: z.array(plannedResourceSchema),
  launch: z
    .object({ strategy: launchStrategySchema, reason: z.string() })
    .nullable()
    .describe(
      'How the instance will be launched (docs/architecture.md#launch-strategies) and why; null for a volume-level restore.',
    ),
});
export type PlanResult = z.infer<typeof planResultSchema>;

import { z } from 'zod';

/**
 * The stable ids of the pre-flight checks (docs/architecture.md#pre-flight-checks). Clients may rely on them;
 * `packages/preflight/README.md` says what each verifies.
 */
export const checkIds = [
  'worker-identity',
  'mode',
  'restore-role-assumable',
  'target-key.exists',
  'target-key.state',
  'target-key.spec',
  'target-key.region',
  'target-key.access.worker-role',
  'target-key.access.restore-role',
  'source-default-key.exists',
  'source-default-key.customer-managed',
  'source-default-key.state',
  'source-default-key.access.worker-role',
  'source-default-key.access.restore-role',
  'transfer-key',
  'transfer-key.access.worker-role',
  'transfer-key.access.restore-role',
  'permissions.worker-role',
  'permissions.restore-role',
  'repository.access',
  'network.subnet',
  'network.security-groups',
  'instance.type',
  'instance.existing',
  'instance.launch-strategy',
  'instance.ena',
  'restore-point.volumes',
  'restore-point.volume-limits',
  'restore-point.attachments',
] as const;
export const checkIdSchema = z.enum(checkIds);
export type CheckId = z.infer<typeof checkIdSchema>;

/** `fail` stops the restore; `warn` lets it go on but says what may go wrong; `pass` is fine. */
export const checkStatusSchema = z.enum(['pass', 'fail', 'warn']);
export type CheckStatus = z.infer<typeof checkStatusSchema>;

/** An IAM policy statement as it appears in policy JSON. */
export const policyStatementSchema = z
  .object({
    Sid: z.string().optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Principal: z
      .union([z.literal('*'), z.record(z.string(), z.union([z.string(), z.array(z.string())]))])
      .optional(),
    NotPrincipal: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
    Action: z.union([z.string(), z.array(z.string())]).optional(),
    NotAction: z.union([z.string(), z.array(z.string())]).optional(),
    Resource: z.union([z.string(), z.array(z.string())]).optional(),
    NotResource: z.union([z.string(), z.array(z.string())]).optional(),
    Condition: z
      .record(z.string(), z.record(z.string(), z.union([z.string(), z.boolean(), z.array(z.string())])))
      .optional(),
  })
  .describe('An IAM / KMS key policy statement.');
export type PolicyStatementJson = z.infer<typeof policyStatementSchema>;

/** How to fix a failing check: words, and where possible the exact policy statements or commands. */
export const remedySchema = z.object({
  summary: z.string().describe('What to do, in one or two sentences.'),
  policy: z
    .object({
      attachTo: z.string().describe('Where the statements go, e.g. "key policy of arn:aws:kms:…".'),
      statements: z.array(policyStatementSchema),
    })
    .optional()
    .describe('Policy statements to add, with the real ARNs filled in.'),
  commands: z.array(z.string()).optional().describe('AWS CLI commands to run, in order.'),
  links: z.array(z.url()).optional().describe('AWS documentation.'),
});
export type Remedy = z.infer<typeof remedySchema>;

/** The outcome of one pre-flight check. */
export const checkSchema = z.object({
  id: checkIdSchema,
  status: checkStatusSchema,
  message: z.string().describe('What was found, for a person.'),
  remedy: remedySchema.nullable().describe('How to fix it; null when nothing needs fixing.'),
});
export type Check = z.infer<typeof checkSchema>;

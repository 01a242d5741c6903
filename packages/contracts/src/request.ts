import { z } from 'zod';
import {
  accountIdPattern,
  awsRegions,
  deviceNamePattern,
  instanceIdPattern,
  instanceTypePattern,
  isAwsRegion,
  parseKmsKeyReference,
  parseRoleArn,
  partitionOfRegion,
  securityGroupIdPattern,
  subnetIdPattern,
} from './aws-names.ts';
import { launchStrategyRequestSchema } from './launch-strategy.ts';
import { imdsHttpTokensSchema } from './restore-point.ts';

/**
 * The message for a wrong type: "required" when the field is missing, else what is expected.
 * Zod calls this for `invalid_type` issues of the schema it is given to.
 */
function expected(what: string) {
  return (issue: { input?: unknown }) =>
    issue.input === undefined ? `required: ${what}` : `expected ${what}`;
}

/** A 12-digit AWS account id, e.g. `222222222222`. */
export const accountIdSchema = z
  .string({ error: expected('a 12-digit AWS account id as a string, e.g. "222222222222"') })
  .regex(accountIdPattern, { error: 'must be a 12-digit AWS account id, e.g. "222222222222"' });

/** An AWS region that exists, e.g. `eu-west-1`. */
export const regionSchema = z
  .string({ error: expected('an AWS region name, e.g. "eu-west-1"') })
  .refine(isAwsRegion, {
    error: (issue) => `"${String(issue.input)}" is not an AWS region; expected one such as "eu-west-1"`,
  })
  // For JSON Schema / OpenAPI: the refinement above is zod-only.
  .meta({ enum: [...awsRegions] });

/** An IAM role ARN, `arn:aws:iam::ACCOUNT:role/NAME`. */
export const roleArnSchema = z
  .string({ error: expected('an IAM role ARN, e.g. "arn:aws:iam::222222222222:role/Restore"') })
  .superRefine((value, ctx) => {
    const parsed = parseRoleArn(value);
    if (!parsed.ok) {
      ctx.addIssue({
        code: 'custom',
        message: `not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME): ${parsed.reason}`,
      });
    }
  })
  .meta({ pattern: '^arn:aws(-cn|-us-gov)?:iam::\\d{12}:role/.+$' });

/** A KMS key id, key ARN, alias name (`alias/NAME`) or alias ARN. */
export const kmsKeyIdSchema = z
  .string({ error: expected('a KMS key id, key ARN, alias name (alias/NAME) or alias ARN') })
  .superRefine((value, ctx) => {
    const parsed = parseKmsKeyReference(value);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `not a KMS key identifier: ${parsed.reason}` });
  })
  .meta({
    examples: [
      'arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'alias/restore',
    ],
  });

/** An EBS device name such as `/dev/xvdf`, `/dev/sdf` or `/dev/sda1`. */
export const deviceNameSchema = z
  .string({ error: expected('a device name such as "/dev/xvdf" or "/dev/sdf"') })
  .regex(deviceNamePattern, {
    error: (issue) =>
      `"${String(issue.input)}" is not an EBS device name; expected one such as "/dev/xvdf", "/dev/sdf" or "/dev/sda1"`,
  });

/** Where the restore lands: account, region, the role to assume there and the KMS key. */
export const restoreTargetSchema = z
  .object(
    {
      accountId: accountIdSchema.describe('The account the restored instance will belong to.'),
      region: regionSchema.describe('The region to restore into; the workers operate there.'),
      roleArn: roleArnSchema
        .optional()
        .describe(
          'IAM role in the target account that the instance worker assumes. Required when the target account is not the account of the worker role.',
        ),
      externalId: z
        .string({ error: expected('a string') })
        .regex(/^[\w+=,.@:/-]{2,1224}$/, {
          error: 'must be 2 to 1224 characters of letters, digits and +=,.@:/-',
        })
        .optional()
        .describe('The ExternalId to pass to STS AssumeRole, when the role trust policy requires one.'),
      kmsKeyId: kmsKeyIdSchema.describe('The target key: key ARN, key id, alias name or alias ARN.'),
    },
    { error: expected('an object {accountId, region, kmsKeyId, roleArn?, externalId?}') },
  )
  .superRefine((target, ctx) => {
    if (target.roleArn === undefined) {
      if (target.externalId !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['externalId'], message: 'externalId needs target.roleArn' });
      }
      return;
    }
    const role = parseRoleArn(target.roleArn);
    if (!role.ok) return;
    if (role.arn.accountId !== target.accountId) {
      ctx.addIssue({
        code: 'custom',
        path: ['roleArn'],
        message: `the role belongs to account ${role.arn.accountId}, but target.accountId is ${target.accountId}; the restore role must be in the target account`,
      });
    }
    const partition = partitionOfRegion(target.region);
    if (partition !== undefined && role.arn.partition !== partition) {
      ctx.addIssue({
        code: 'custom',
        path: ['roleArn'],
        message: `the role ARN is in partition ${role.arn.partition}, but region ${target.region} is in partition ${partition}`,
      });
    }
  });

/** Tag keys and values as EC2 accepts them; keys starting with `aws:` are reserved. */
const tagsSchema = z
  .record(
    z.string(),
    z
      .string({ error: 'a tag value must be a string' })
      .max(256, { error: 'a tag value has at most 256 characters' }),
    { error: expected('an object of tag keys to string values') },
  )
  .superRefine((tags, ctx) => {
    // Key errors are reported here, not in the key schema, so the message survives (zod wraps key issues).
    for (const key of Object.keys(tags)) {
      const problem =
        key.length === 0
          ? 'a tag key must not be empty'
          : key.length > 128
            ? 'a tag key has at most 128 characters'
            : key.toLowerCase().startsWith('aws:')
              ? 'tag keys starting with "aws:" are reserved'
              : undefined;
      if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
  })
  .describe('Tags to put on the restored instance and volumes (the product adds its own restore id tags).');

/** Options of the restored instance. Everything is optional: the restore point's values are the defaults. */
export const instanceOptionsSchema = z.object(
  {
    name: z
      .string({ error: expected('a string') })
      .min(1, { error: 'must not be empty' })
      .max(256, { error: 'at most 256 characters (it becomes the Name tag)' })
      .optional()
      .describe('Name tag of the restored instance.'),
    instanceType: z
      .string({ error: expected('an instance type such as "t3.micro"') })
      .regex(instanceTypePattern, { error: 'expected an instance type such as "t3.micro" or "m7g.large"' })
      .optional()
      .describe("Instance type; defaults to the restore point's."),
    subnetId: z
      .string({ error: expected('a subnet id such as "subnet-0123456789abcdef0"') })
      .regex(subnetIdPattern, { error: 'expected a subnet id such as "subnet-0123456789abcdef0"' })
      .optional()
      .describe("Subnet in the target account and region; defaults to the default VPC's subnet."),
    securityGroupIds: z
      .array(
        z
          .string({ error: expected('a security group id such as "sg-0123456789abcdef0"') })
          .regex(securityGroupIdPattern, {
            error: 'expected a security group id such as "sg-0123456789abcdef0"',
          }),
      )
      .max(16, { error: 'an instance has at most 16 security groups' })
      .optional()
      .describe('Security groups of the VPC of the subnet.'),
    powerOn: z
      .boolean({ error: expected('true or false') })
      .default(false)
      .describe('Start the instance when done.'),
    tags: tagsSchema.optional(),
    launchStrategy: launchStrategyRequestSchema
      .optional()
      .describe(
        'How the instance is launched: register-image (an image of the restored root with the recorded boot mode, ENA and IMDS; Linux without a paid licence) or launch-and-swap (an Amazon base image of the same platform, boot mode and billing, its root volume swapped; Windows and licensed platforms). auto (the default) lets the restore point decide; POST /v1/restores/plan shows the choice.',
      ),
    imdsHttpTokens: imdsHttpTokensSchema
      .optional()
      .describe(
        "IMDS of the restored instance: required (IMDSv2 only) or optional; defaults to the restore point's.",
      ),
    instanceId: z
      .string({ error: expected('an instance id such as "i-0123456789abcdef0"') })
      .regex(instanceIdPattern, { error: 'expected an instance id such as "i-0123456789abcdef0"' })
      .optional()
      .describe(
        'Volume-level restores only: attach the restored volumes to this existing instance of the target account instead of creating one.',
      ),
  },
  { error: expected('an object of instance options') },
);

/** `ebs-direct` writes the data with the EBS direct APIs; `worker-volume` through a volume attached to the worker. */
export const dataPathSchema = z.enum(['ebs-direct', 'worker-volume'], {
  error: 'expected "ebs-direct" or "worker-volume"',
});
export type DataPath = z.infer<typeof dataPathSchema>;

/** `auto` lets the product grant the restore role the source default key for the length of the restore. */
export const kmsGrantSchema = z.enum(['none', 'auto'], { error: 'expected "none" or "auto"' });
export type KmsGrantMode = z.infer<typeof kmsGrantSchema>;

/** The body of `POST /v1/restores` and `POST /v1/restores/plan` (docs/architecture.md#the-public-interface). */
export const restoreRequestSchema = z
  .object(
    {
      restorePointId: z
        .string({ error: expected('the id of a restore point (GET /v1/restore-points)') })
        .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/, {
          error:
            'expected a restore point id: letters, digits and . _ : - (GET /v1/restore-points lists them)',
        })
        .describe('The restore point to restore (GET /v1/restore-points).'),
      target: restoreTargetSchema,
      instance: instanceOptionsSchema.default({ powerOn: false }),
      volumes: z
        .array(deviceNameSchema, { error: expected('an array of device names such as ["/dev/xvdf"]') })
        .min(1, {
          error: 'list at least one device name, or leave volumes out to restore the whole instance',
        })
        .optional()
        .describe("A subset of the restore point's device names: makes it a volume-level restore."),
      dataPath: dataPathSchema.default('ebs-direct'),
      kmsGrant: kmsGrantSchema.default('none'),
      transferKey: z
        .boolean({ error: expected('true or false') })
        .default(false)
        .describe(
          "Another account only: encrypt the shared snapshots with the product's transfer key for the restore role (a customer managed key in the source account, created on first use, whose key policy names only that role) instead of the source account's EBS default key. The target then never gets rights on the source default key, and a source whose default key is aws/ebs can restore into another account.",
        ),
      verify: z
        .boolean({ error: expected('true or false') })
        .default(false)
        .describe(
          'Read every block of each snapshot back (or of the worker volume, for dataPath worker-volume) and compare it with the restore point before any volume or instance is created; a difference fails the restore and names the blocks. Costs one more read of the data.',
        ),
    },
    { error: expected('a JSON object with restorePointId and target') },
  )
  .superRefine((request, ctx) => {
    const seen = new Set<string>();
    request.volumes?.forEach((device, index) => {
      if (seen.has(device)) {
        ctx.addIssue({ code: 'custom', path: ['volumes', index], message: `${device} is listed twice` });
      }
      seen.add(device);
    });
    if (request.instance.instanceId !== undefined && request.volumes === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['instance', 'instanceId'],
        message: 'an existing instance can only be given for a volume-level restore: list the volumes too',
      });
    }
  });

/** A validated restore request, defaults applied. */
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;
/** A restore request as a client may send it (defaults not yet applied). */
export type RestoreRequestInput = z.input<typeof restoreRequestSchema>;
export type RestoreTarget = z.infer<typeof restoreTargetSchema>;
export type InstanceOptions = z.infer<typeof instanceOptionsSchema>;

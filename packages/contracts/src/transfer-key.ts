/**
 * The transfer key (request option `transferKey`): a customer managed KMS key the product keeps in
 * the source account, one per target region, target account and restore role, used instead of the
 * source account's EBS default key to encrypt the snapshots a restore shares with another account.
 * The target account then only ever gets rights on this key, never on the key behind every
 * default-encrypted volume of the source account, and a source whose default key is the AWS managed
 * `aws/ebs` (whose snapshots AWS refuses to share) can still restore into another account.
 *
 * Its alias names the target, so every step, the pre-flight and the cleanup find the same key from
 * the accepted request alone; its key policy is written once, when the key is created.
 */
import { createHash } from 'node:crypto';
import { parseRoleArn } from './aws-names.ts';
import type { PolicyStatementJson } from './checks.ts';

/** Prefix of every transfer key alias (`alias/ec2-restore-transfer/<account>/<role>-<hash>`). */
export const TRANSFER_KEY_ALIAS_PREFIX = 'alias/ec2-restore-transfer/';

/**
 * The alias of the transfer key for one restore role. Alias names allow letters, digits, `/`, `_`
 * and `-` (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html); a role name may
 * hold `+=,.@` and a path, so the name is made safe and a digest of the whole ARN keeps two roles apart.
 */
export function transferKeyAliasFor(restoreRoleArn: string): string {
  const role = parseRoleArn(restoreRoleArn);
  if (!role.ok) throw new Error(`not a role ARN: ${restoreRoleArn} (${role.reason})`);
  const safeName = role.arn.roleName.replace(/[^A-Za-z0-9_-]/g, '-');
  const digest = createHash('sha256').update(restoreRoleArn).digest('hex').slice(0, 10);
  return `${TRANSFER_KEY_ALIAS_PREFIX}${role.arn.accountId}/${safeName}-${digest}`;
}

/** The description the transfer key is created with (what it is, for a person reading the console). */
export function transferKeyDescription(restoreRoleArn: string): string {
  return (
    `ec2-restore transfer key: encrypts the snapshots shared with ${restoreRoleArn} during restores. ` +
    `In use while the alias ${transferKeyAliasFor(restoreRoleArn)} points to it; otherwise unused and safe to delete.`
  );
}

/**
 * What the restore role may do with the transfer key: create volumes from the snapshots shared with
 * it, re-encrypted with its own target key (the same actions as for any shared encrypted snapshot:
 * https://docs.aws.amazon.com/ebs/latest/userguide/share-kms-key.html). CreateGrant only for AWS
 * resources (EBS creates a grant for the new volume in the caller's name).
 */
export const TRANSFER_KEY_RESTORE_ROLE_ACTIONS = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
] as const;

/**
 * The key policy of a transfer key. The source account administers it (its root principal, so the
 * worker role's IAM policy decides what the worker role may do, as for any key of the account); the
 * only principal of another account it names is the one restore role, and that role gets only the
 * actions that create a volume from a shared snapshot. Without the root statement KMS refuses the
 * policy (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
 */
export function transferKeyPolicy(input: { sourceAccountId: string; restoreRoleArn: string }): {
  Version: '2012-10-17';
  Statement: PolicyStatementJson[];
} {
  const role = parseRoleArn(input.restoreRoleArn);
  if (!role.ok) throw new Error(`not a role ARN: ${input.restoreRoleArn} (${role.reason})`);
  const partition = role.arn.partition;
  const restoreRole = { AWS: input.restoreRoleArn };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'SourceAccountAdministers',
        Effect: 'Allow' as const,
        Principal: { AWS: `arn:${partition}:iam::${input.sourceAccountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'RestoreRoleUsesSharedSnapshots',
        Effect: 'Allow' as const,
        Principal: restoreRole,
        Action: [...TRANSFER_KEY_RESTORE_ROLE_ACTIONS],
        Resource: '*',
      },
      {
        Sid: 'RestoreRoleGrantsForEbs',
        Effect: 'Allow' as const,
        Principal: restoreRole,
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      },
    ],
  };
}

/**
 * The principals a key policy lets act (Allow statements) that are neither of `accountId` nor
 * `roleArn`: for the transfer key, anyone someone added after the product wrote its policy. A
 * statement with Principal `*` counts unless a `kms:CallerAccount` condition keeps it to `accountId`.
 */
export function keyPolicyPrincipalsBeyond(
  policy: { Statement?: unknown },
  accountId: string,
  roleArn: string,
): string[] {
  const statements = (Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]) as Array<
    Partial<PolicyStatementJson> | undefined
  >;
  const found = new Set<string>();
  for (const statement of statements) {
    if (statement?.Effect !== 'Allow') continue;
    const principal = statement.Principal;
    const values =
      principal === '*' ? ['*'] : Object.values(principal ?? {}).flatMap((v) => (Array.isArray(v) ? v : [v]));
    for (const value of values) {
      if (value === roleArn || value === accountId || value.split(':')[4] === accountId) continue;
      if (value === '*' && statement.Condition?.StringEquals?.['kms:CallerAccount'] === accountId) continue;
      found.add(value);
    }
  }
  return [...found];
}

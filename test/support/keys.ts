/**
 * KMS keys and IAM roles of a test world: key policies built from named statements, customer managed
 * keys, the EBS default key, and restore roles (trust policy with an ExternalId, an identity policy).
 */
import { randomUUID } from 'node:crypto';
import { EnableEbsEncryptionByDefaultCommand, ModifyEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, type KeyMetadata } from '@aws-sdk/client-kms';
import { type Account, newAccount, SDK_RETRIES } from './accounts.ts';

/** What EBS needs of a key used by a principal (docs/architecture.md#pre-flight-checks). */
export const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
];

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: '*' | { AWS: string | string[] };
  Action: string | string[];
  Resource?: string;
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** A key policy document of `statements` (Resource `*` unless given). */
export function keyPolicy(...statements: PolicyStatement[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: statements.map((statement) => ({ Resource: '*', ...statement })),
  });
}

/** The statement of AWS's default key policy: the account's IAM policies decide. */
export function accountRoot(accountId: string): PolicyStatement {
  return {
    Sid: 'Enable IAM User Permissions',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${accountId}:root` },
    Action: 'kms:*',
  };
}

/** Lets `principal` (an ARN, or an account id for its root) use the key for EBS. */
export function allowEbsUse(principal: string | string[]): PolicyStatement {
  const arns = (Array.isArray(principal) ? principal : [principal]).map((p) =>
    p.startsWith('arn:') ? p : `arn:aws:iam::${p}:root`,
  );
  return {
    Sid: 'EbsUse',
    Effect: 'Allow',
    Principal: { AWS: arns.length === 1 ? (arns[0] as string) : arns },
    Action: EBS_KEY_ACTIONS,
  };
}

/**
 * A key administrator statement that does not delegate to the account root: only this role may
 * manage the key, so the key policy alone decides who uses it.
 */
export function adminOnly(accountId: string): PolicyStatement {
  return {
    Sid: 'KeyAdmin',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${accountId}:role/KeyAdmin` },
    Action: 'kms:*',
  };
}

/** What CreateKey answered about the key, its ARN and id always set. */
export type Key = KeyMetadata & { Arn: string; KeyId: string };

/** A customer managed key with `policy` (default: AWS's default key policy, the account's IAM decides). */
export async function createKey(account: Account, policy?: string): Promise<Key> {
  const { KeyMetadata } = await account.aws.kms.send(
    new CreateKeyCommand({
      Description: 'test key',
      ...(policy ? { Policy: policy, BypassPolicyLockoutSafetyCheck: true } : {}),
    }),
  );
  return { ...KeyMetadata, Arn: KeyMetadata?.Arn ?? '', KeyId: KeyMetadata?.KeyId ?? '' };
}

/** A key of `account` that `principal` (account id or ARN) may also use for EBS; returns its ARN. */
export async function keyUsableBy(account: Account, principal: string): Promise<string> {
  return (await createKey(account, keyPolicy(accountRoot(account.id), allowEbsUse(principal)))).Arn;
}

/** Makes `keyArn` the EBS default key of the region in `account` (encryption by default on). */
export async function setEbsDefaultKey(account: Account, keyArn: string): Promise<void> {
  await account.aws.ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
  await account.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: keyArn }));
}

/** An identity policy allowing every EC2, EBS direct and KMS action on every resource. */
export const ALL_EC2_EBS_KMS = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['ec2:*', 'ebs:*', 'kms:*'], Resource: '*' }],
});

/**
 * A role in `account` whose trust policy lets the root of `trustedAccountId` assume it (with
 * `externalId` when given), with `identityPolicy` as its inline policy (`null`: none). The emulator
 * enforces identity policies: a role without one may do nothing.
 */
export async function createRestoreRole(
  account: Account,
  trustedAccountId: string,
  externalId?: string,
  identityPolicy: string | null = ALL_EC2_EBS_KMS,
): Promise<string> {
  const { Role } = await account.aws.iam.send(
    new CreateRoleCommand({
      RoleName: `Restore-${randomUUID().slice(0, 8)}`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${trustedAccountId}:root` },
            Action: 'sts:AssumeRole',
            ...(externalId ? { Condition: { StringEquals: { 'sts:ExternalId': externalId } } } : {}),
          },
        ],
      }),
    }),
  );
  if (identityPolicy !== null) await putRolePolicy(account, Role?.Arn ?? '', identityPolicy);
  return Role?.Arn ?? '';
}

/** Sets a role's inline identity policy (replacing the one createRestoreRole gave it). */
export async function putRolePolicy(
  account: Account,
  roleNameOrArn: string,
  document: string,
): Promise<void> {
  await account.aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: roleNameOrArn.split('/').at(-1) ?? '',
      PolicyName: 'identity',
      PolicyDocument: document,
    }),
  );
}

/** A fresh account (clients retrying as the product's do) and a customer managed key of it. */
export async function accountWithKey(): Promise<{ account: Account; aws: Account['aws']; keyArn: string }> {
  const account = newAccount(SDK_RETRIES);
  return { account, aws: account.aws, keyArn: (await createKey(account)).Arn };
}

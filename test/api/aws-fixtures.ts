import { randomUUID } from 'node:crypto';
import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EnableEbsEncryptionByDefaultCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { type AwsClients, createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { REGION } from './harness.ts';

/** An emulator account and clients acting as its root user. */
export interface Account {
  id: string;
  aws: AwsClients;
}

const opened: AwsClients[] = [];

export function newAccount(): Account {
  const id = randomAccountId();
  const aws = createAwsClients({ region: REGION, credentials: credentialsForAccount(id), maxAttempts: 1 });
  opened.push(aws);
  return { id, aws };
}

export function closeAccounts(): void {
  for (const clients of opened.splice(0)) clients.destroy();
}

type Principal = '*' | { AWS: string | string[] };
interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: Principal;
  Action: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** What EBS needs of a key (docs/architecture.md#pre-flight-checks). */
export const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
];

export function keyPolicy(...statements: Statement[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: statements.map((statement) => ({ Resource: '*', ...statement })),
  });
}

/** Lets `principal` use the key for EBS. */
export function allowEbsUse(principal: string | string[]): Statement {
  return { Sid: 'EbsUse', Effect: 'Allow', Principal: { AWS: principal }, Action: EBS_KEY_ACTIONS };
}

/**
 * A key administrator statement that does not delegate to the account root: only this role may
 * manage the key, so the key policy alone decides who uses it.
 */
export function adminOnly(accountId: string): Statement {
  return {
    Sid: 'KeyAdmin',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${accountId}:role/KeyAdmin` },
    Action: 'kms:*',
  };
}

export function accountRoot(accountId: string): Statement {
  return {
    Sid: 'Root',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${accountId}:root` },
    Action: 'kms:*',
  };
}

export async function createKey(account: Account, policy: string): Promise<string> {
  const out = await account.aws.kms.send(
    new CreateKeyCommand({
      Description: 'api test key',
      Policy: policy,
      BypassPolicyLockoutSafetyCheck: true,
    }),
  );
  return out.KeyMetadata?.Arn as string;
}

/**
 * A restore role in `account` whose trust policy allows the root of `trustedAccountId`, with an IAM
 * policy that lets it use EC2 and KMS keys for EBS (which keys is then up to the key policies).
 */
export async function createRestoreRole(account: Account, trustedAccountId: string): Promise<string> {
  const out = await account.aws.iam.send(
    new CreateRoleCommand({
      RoleName: `Restore-${randomUUID().slice(0, 8)}`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${trustedAccountId}:root` },
            Action: 'sts:AssumeRole',
          },
        ],
      }),
    }),
  );
  // A principal using a key of another account needs its own IAM policy to allow it as well as the
  // key policy: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
  await account.aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: out.Role?.RoleName as string,
      PolicyName: 'UseKmsKeysForEbs',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['ec2:*', ...EBS_KEY_ACTIONS], Resource: '*' }],
      }),
    }),
  );
  return out.Role?.Arn as string;
}

/** Makes `keyArn` the EBS default key of the region in `account` (encryption by default on). */
export async function setEbsDefaultKey(account: Account, keyArn: string): Promise<void> {
  await account.aws.ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
  await account.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: keyArn }));
}

/** Volumes, snapshots and instances the account owns in the region: what a restore would create. */
export async function resourcesOf(
  account: Account,
): Promise<{ volumes: number; snapshots: number; instances: number }> {
  const [volumes, snapshots, instances] = await Promise.all([
    account.aws.ec2.send(new DescribeVolumesCommand({})),
    account.aws.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] })),
    account.aws.ec2.send(new DescribeInstancesCommand({})),
  ]);
  return {
    volumes: volumes.Volumes?.length ?? 0,
    snapshots: snapshots.Snapshots?.length ?? 0,
    instances: (instances.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []).length,
  };
}

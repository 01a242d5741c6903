import { randomUUID } from 'node:crypto';
import {
  ListSnapshotBlocksCommand,
  StartSnapshotCommand,
  type StartSnapshotCommandInput,
} from '@aws-sdk/client-ebs';
import { ModifySnapshotAttributeCommand } from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, type KeyMetadata } from '@aws-sdk/client-kms';
import {
  type AwsClients,
  type AwsCredentials,
  assumeRoleCredentials,
  createAwsClients,
} from '@ec2-restore/aws-clients';
import { credentialsForAccount, onceVisible, randomAccountId } from '@ec2-restore/local-aws';
import { afterAll, expect } from 'vitest';

/** Every contract test works in this region; a fresh random account per test isolates its state. */
export const REGION = 'eu-west-1';
export const ZONE = `${REGION}a`;

const opened: AwsClients[] = [];
afterAll(() => {
  for (const clients of opened) clients.destroy();
});

/** One attempt per call: a contract test must see AWS's first answer, not a retried one. */
export function clientsFor(credentials: AwsCredentials): AwsClients {
  const clients = createAwsClients({ region: REGION, credentials, maxAttempts: 1 });
  opened.push(clients);
  return clients;
}

export interface TestAccount {
  id: string;
  /** Clients acting as the account's root user. */
  aws: AwsClients;
  rootArn: string;
}

export function newAccount(): TestAccount {
  const id = randomAccountId();
  return { id, aws: clientsFor(credentialsForAccount(id)), rootArn: `arn:aws:iam::${id}:root` };
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: '*' | { AWS: string | string[] };
  Action: string | string[];
  Resource?: string;
  Condition?: Record<string, Record<string, string | string[]>>;
}

export function policy(...statements: PolicyStatement[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: statements.map((s) => ({ Resource: '*', ...s })),
  });
}

/** The statement of AWS's default key policy: the account's IAM policies decide. */
export function accountRootStatement(accountId: string): PolicyStatement {
  return {
    Sid: 'Enable IAM User Permissions',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${accountId}:root` },
    Action: 'kms:*',
  };
}

/** What EBS needs of a key, for a principal of another account (docs/architecture.md#pre-flight-checks). */
export const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
];

export async function createKey(account: TestAccount, keyPolicy?: string): Promise<KeyMetadata> {
  const out = await account.aws.kms.send(
    new CreateKeyCommand({ Description: 'contract test key', ...(keyPolicy ? { Policy: keyPolicy } : {}) }),
  );
  return out.KeyMetadata!;
}

/** An identity policy allowing every EC2, EBS direct and KMS action on every resource. */
export const ALL_EC2_EBS_KMS = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['ec2:*', 'ebs:*', 'kms:*'], Resource: '*' }],
});

/**
 * Creates a role in `account` whose trust policy allows `trustedAccountId` (with an ExternalId), and
 * gives it `identityPolicy` as its inline policy (default: all of EC2, EBS direct and KMS; `null`:
 * none). The emulator enforces identity policies: a role without one may do nothing.
 */
export async function createRestoreRole(
  account: TestAccount,
  trustedAccountId: string,
  externalId: string,
  identityPolicy: string | null = ALL_EC2_EBS_KMS,
): Promise<string> {
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
            Condition: { StringEquals: { 'sts:ExternalId': externalId } },
          },
        ],
      }),
    }),
  );
  if (identityPolicy !== null) await putRolePolicy(account, out.Role!.RoleName!, identityPolicy);
  return out.Role!.Arn!;
}

export async function putRolePolicy(account: TestAccount, roleName: string, document: string): Promise<void> {
  await account.aws.iam.send(
    new PutRolePolicyCommand({ RoleName: roleName, PolicyName: 'identity', PolicyDocument: document }),
  );
}

/** Clients acting as a session of `roleArn`, assumed by `caller`'s root user. */
export function assumedRoleClients(caller: TestAccount, roleArn: string, externalId?: string): AwsClients {
  return clientsFor(
    assumeRoleCredentials({
      region: REGION,
      roleArn,
      sessionName: 'contract-test',
      sourceCredentials: credentialsForAccount(caller.id),
      ...(externalId ? { externalId } : {}),
    }),
  );
}

/** Asserts that `promise` rejects with AWS error `code` (the SDK's error name) and a message. */
export async function expectAwsError(
  promise: Promise<unknown>,
  code: string,
  message?: string | RegExp,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  const error = await promise.then(
    () => {
      throw new Error(`expected AWS error ${code}, but the call succeeded`);
    },
    (err: unknown) => err as Error & { $metadata?: { httpStatusCode?: number } },
  );
  expect(error.name, `error code (message: ${error.message})`).toBe(code);
  if (message !== undefined) {
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  }
  return error;
}

/** Polls `check` until it returns a value other than undefined (bounded). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * StartSnapshot, then waits until the EBS direct data plane knows the new snapshot: like AWS, the
 * emulator answers "does not exist" for a moment after StartSnapshot (eventual-consistency.test.ts).
 */
export async function startVisibleSnapshot(
  aws: AwsClients,
  input: StartSnapshotCommandInput,
): Promise<string> {
  const { SnapshotId } = await aws.ebs.send(new StartSnapshotCommand(input));
  await untilSnapshotVisible(aws, SnapshotId!);
  return SnapshotId!;
}

/** Waits until the EBS direct data plane knows a snapshot StartSnapshot just made. */
export async function untilSnapshotVisible(aws: AwsClients, SnapshotId: string): Promise<void> {
  await eventually(() =>
    aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId })).then(
      () => true,
      (error: Error) => {
        if (error.name === 'ResourceNotFoundException') return undefined;
        throw error;
      },
    ),
  );
}

/** Shares (or unshares) `owner`'s snapshot with an account, once its new id is visible to the owner. */
export function share(
  owner: TestAccount,
  snapshotId: string,
  accountId: string,
  op: 'Add' | 'Remove' = 'Add',
) {
  return onceVisible(() =>
    owner.aws.ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { [op]: [{ UserId: accountId }] },
      }),
    ),
  );
}

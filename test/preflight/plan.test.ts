import { randomUUID } from 'node:crypto';
import { ModifyEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import { PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  PutKeyPolicyCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { assumeRoleCredentials, createAwsClients } from '@ec2-restore/aws-clients';
import { type Check, type CheckId, type PlanResult, restoreRequestSchema } from '@ec2-restore/contracts';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { generatePolicies, plan as planOnce } from '@ec2-restore/preflight';
import { describe, expect, it } from 'vitest';
// The restore point of the preflight unit tests (two volumes, one of them gp2).
import { restorePoint } from '../../packages/preflight/src/test-facts.ts';
import {
  type Account,
  accountRoot,
  allowEbsUse,
  createKey,
  createRestoreRole,
  keyPolicy,
  newAccount,
  type PolicyStatement,
  REGION,
} from '../support/index.ts';

/*
 * plan() against the local AWS emulator: real SDK calls, real STS AssumeRole with ExternalId, real
 * key policies enforced by the emulator. Each test uses fresh random accounts.
 */

/**
 * plan() with a deadline that holds on a loaded machine: these tests check what a plan finds, and
 * the first plan of fresh emulator accounts on a CI bound by CPU can pass the product's 10 s
 * (test/preflight/session.test.ts tests the deadline).
 */
const plan: typeof planOnce = (request, context) => planOnce(request, { deadlineMs: 60_000, ...context });

/**
 * A role policy without KMS use: only what pre-flight reads of keys (the emulator enforces identity
 * policies, so a role that may not even DescribeKey would fail target-key.exists instead).
 */
const KEY_READS_ONLY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['ec2:*', 'ebs:*', 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListGrants'],
      Resource: '*',
    },
  ],
});

/** A key of `account` with a policy of `statements`; its ARN. */
async function keyArnOf(account: Account, ...statements: PolicyStatement[]): Promise<string> {
  return (await createKey(account, keyPolicy(...statements))).Arn;
}

/** plan() of a same-account restore into `account` with `kmsKeyId`, as the account's root. */
function planSameAccount(account: Account, kmsKeyId: string): Promise<PlanResult> {
  const request = restoreRequestSchema.parse({
    restorePointId: 'rp-preflight',
    target: { accountId: account.id, region: REGION, kmsKeyId },
  });
  return plan(request, { sourceCredentials: credentialsForAccount(account.id), restorePoint });
}

function byId(result: PlanResult, id: CheckId): Check {
  const check = result.checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id}: ${result.checks.map((c) => c.id).join(', ')}`);
  return check;
}
const notPassing = (result: PlanResult) => result.checks.filter((c) => c.status !== 'pass');

function expectEveryCheckPasses(result: PlanResult, mode: PlanResult['mode']): void {
  expect(notPassing(result)).toEqual([]);
  expect(result.ok).toBe(true);
  expect(result.mode).toBe(mode);
}

/** Two accounts: the source default key customer managed (or aws/ebs), a restore role, a target key. */
async function crossAccountSetup(options: {
  defaultKey: 'customer' | 'aws/ebs';
  externalId?: string;
  trust?: 'source' | 'stranger';
}) {
  const source = newAccount();
  const target = newAccount();
  const externalId = options.externalId ?? randomUUID();
  const trusted = options.trust === 'stranger' ? randomAccountId() : source.id;
  const roleArn = await createRestoreRole(target, trusted, externalId);
  const targetKeyArn = await keyArnOf(target, accountRoot(target.id), allowEbsUse(roleArn));
  if (options.defaultKey === 'customer') {
    const sourceKeyArn = await keyArnOf(source, accountRoot(source.id), allowEbsUse(roleArn));
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceKeyArn }));
  }
  const request = restoreRequestSchema.parse({
    restorePointId: 'rp-preflight',
    target: { accountId: target.id, region: REGION, roleArn, externalId, kmsKeyId: targetKeyArn },
  });
  return { source, target, roleArn, targetKeyArn, request };
}

describe('plan() against the emulator', () => {
  it('same account: mode same-account, every check passes, nothing is created', async () => {
    const account = newAccount();
    const keyArn = await keyArnOf(account, accountRoot(account.id));
    const result = await planSameAccount(account, keyArn);
    expectEveryCheckPasses(result, 'same-account');
    expect(byId(result, 'target-key.exists').message).toContain(keyArn);
    expect(byId(result, 'instance.type').status).toBe('pass');
    expect(byId(result, 'network.subnet').message).toContain('default VPC');
    expect(result.steps.map((s) => s.name)).toContain('write-snapshot');
    expect(result.resources.filter((r) => r.kind === 'ebs-volume').every((r) => r.kmsKeyId === keyArn)).toBe(
      true,
    );
  });

  it('same account as a worker role: its IAM policies are read and decide a key that delegates to IAM', async () => {
    const account = newAccount();
    const keyArn = await keyArnOf(account, accountRoot(account.id));
    const workerRoleArn = await createRestoreRole(account, account.id, 'worker', KEY_READS_ONLY);
    const request = restoreRequestSchema.parse({
      restorePointId: 'rp-preflight',
      target: { accountId: account.id, region: REGION, kmsKeyId: keyArn },
    });
    const sourceCredentials = assumeRoleCredentials({
      region: REGION,
      roleArn: workerRoleArn,
      externalId: 'worker',
      sessionName: 'worker',
      sourceCredentials: credentialsForAccount(account.id),
    });
    const denied = await plan(request, { sourceCredentials, restorePoint });
    expect(denied.ok).toBe(false);
    const check = byId(denied, 'target-key.access.worker-role');
    expect(check.status).toBe('fail');
    expect(check.message).toContain(workerRoleArn);
    expect(check.remedy?.policy?.attachTo).toBe(`IAM policy of ${workerRoleArn}`);

    // The remedy's own command, applied: the same plan passes.
    const roleName = workerRoleArn.split('/').at(-1)!;
    await account.aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: 'ec2-restore-kms-target',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: check.remedy?.policy?.statements,
        }),
      }),
    );
    const allowed = await plan(request, { sourceCredentials, restorePoint });
    expect(notPassing(allowed)).toEqual([]);
  });

  it('same account: a key given by alias resolves to its ARN', async () => {
    const account = newAccount();
    const keyArn = await keyArnOf(account, accountRoot(account.id));
    const alias = `alias/preflight-${randomUUID().slice(0, 8)}`;
    await account.aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyArn }));
    const result = await planSameAccount(account, alias);
    expect(result.ok).toBe(true);
    expect(byId(result, 'target-key.exists').message).toContain(keyArn);
  });

  it('same account: a disabled target key fails target-key.state', async () => {
    const account = newAccount();
    const keyArn = await keyArnOf(account, accountRoot(account.id));
    // By key id: the emulator answers DisableKey by key ARN with an HTML 500 (reported to local-aws).
    await account.aws.kms.send(new DisableKeyCommand({ KeyId: keyArn.split('/').at(-1) }));
    const result = await planSameAccount(account, keyArn);
    expect(result.ok).toBe(false);
    expect(notPassing(result).map((c) => c.id)).toEqual(['target-key.state']);
    expect(byId(result, 'target-key.state').remedy?.commands).toEqual([
      `aws kms enable-key --key-id ${keyArn} --region ${REGION}`,
    ]);
  });

  it('same account: a key pending deletion fails target-key.state with cancel-key-deletion', async () => {
    const account = newAccount();
    const keyArn = await keyArnOf(account, accountRoot(account.id));
    await account.aws.kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: keyArn.split('/').at(-1), PendingWindowInDays: 7 }),
    );
    const result = await planSameAccount(account, keyArn);
    expect(result.ok).toBe(false);
    const check = byId(result, 'target-key.state');
    expect(check.message).toContain('PendingDeletion');
    expect(check.remedy?.commands?.[0]).toBe(
      `aws kms cancel-key-deletion --key-id ${keyArn} --region ${REGION}`,
    );
  });

  it('same account: a key ARN of another region fails target-key.region', async () => {
    const account = newAccount();
    const elsewhere = createAwsClients({
      region: 'us-east-1',
      credentials: credentialsForAccount(account.id),
      maxAttempts: 1,
    });
    const created = await elsewhere.kms.send(
      new CreateKeyCommand({
        Policy: JSON.stringify({ Version: '2012-10-17', Statement: [accountRoot(account.id)] }),
      }),
    );
    elsewhere.destroy();
    const keyArn = created.KeyMetadata!.Arn!;
    const result = await planSameAccount(account, keyArn);
    expect(result.ok).toBe(false);
    const check = byId(result, 'target-key.region');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('us-east-1');
  });

  it('same account: a key that does not exist fails target-key.exists', async () => {
    const account = newAccount();
    const result = await planSameAccount(account, 'alias/does-not-exist');
    expect(result.ok).toBe(false);
    expect(byId(result, 'target-key.exists').message).toContain('NotFoundException');
  });

  it('another account with a customer managed default key: mode cross-account, every check passes', async () => {
    const { source, request, roleArn } = await crossAccountSetup({ defaultKey: 'customer' });
    const result = await plan(request, { sourceCredentials: credentialsForAccount(source.id), restorePoint });
    expectEveryCheckPasses(result, 'cross-account');
    expect(byId(result, 'restore-role-assumable').message).toContain(roleArn);
    expect(byId(result, 'source-default-key.customer-managed').status).toBe('pass');
    expect(byId(result, 'source-default-key.access.restore-role').status).toBe('pass');
    expect(result.steps.filter((s) => s.name === 'share-snapshot').map((s) => s.accountId)).toEqual([
      source.id,
      source.id,
    ]);
  });

  it('another account, kmsGrant auto: the default key policy need not name the restore role', async () => {
    const source = newAccount();
    const target = newAccount();
    const externalId = randomUUID();
    const roleArn = await createRestoreRole(target, source.id, externalId);
    const targetKeyArn = await keyArnOf(target, accountRoot(target.id), allowEbsUse(roleArn));
    const sourceKeyArn = await keyArnOf(source, accountRoot(source.id));
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceKeyArn }));
    const base = {
      restorePointId: 'rp-preflight',
      target: { accountId: target.id, region: REGION, roleArn, externalId, kmsKeyId: targetKeyArn },
    };
    const withoutGrant = await plan(restoreRequestSchema.parse(base), {
      sourceCredentials: credentialsForAccount(source.id),
      restorePoint,
    });
    expect(withoutGrant.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual([
      'source-default-key.access.restore-role',
    ]);
    const withGrant = await plan(restoreRequestSchema.parse({ ...base, kmsGrant: 'auto' }), {
      sourceCredentials: credentialsForAccount(source.id),
      restorePoint,
    });
    expect(notPassing(withGrant)).toEqual([]);
    expect(withGrant.resources.filter((r) => r.kind === 'kms-grant').map((r) => r.kmsKeyId)).toEqual([
      sourceKeyArn,
    ]);
  });

  it('another account with aws/ebs as the default key: fails before anything is created, with the KB3057 remedy', async () => {
    const { source, request } = await crossAccountSetup({ defaultKey: 'aws/ebs' });
    const result = await plan(request, { sourceCredentials: credentialsForAccount(source.id), restorePoint });
    expect(result.ok).toBe(false);
    expect(result.mode).toBe('cross-account');
    const check = byId(result, 'source-default-key.customer-managed');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('Encrypted snapshots with EBS default key cannot be shared');
    expect(check.remedy?.commands?.at(-1)).toBe(
      `aws ec2 modify-ebs-default-kms-key-id --kms-key-id alias/ec2-restore-ebs-default --region ${REGION}`,
    );
    expect(byId(result, 'source-default-key.access.restore-role').status).toBe('fail');
  });

  it('the policies of generatePolicies, applied in both accounts, make every check pass', async () => {
    const source = newAccount();
    const target = newAccount();
    const externalId = randomUUID();
    const workerRoleArn = await createRestoreRole(source, source.id, 'worker', KEY_READS_ONLY);
    const restoreRoleArn = await createRestoreRole(target, source.id, externalId, KEY_READS_ONLY);
    const sourceKeyArn = await keyArnOf(source, accountRoot(source.id));
    const targetKeyArn = await keyArnOf(target, accountRoot(target.id));
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceKeyArn }));
    const generated = generatePolicies({
      mode: 'cross-account',
      region: REGION,
      dataPath: 'ebs-direct',
      kmsGrant: 'none',
      workerRoleArn,
      restoreRoleArn,
      externalId,
      targetKeyArn,
      sourceDefaultKeyArn: sourceKeyArn,
    });
    const apply = async (account: Account, keyArn: string, statements: object[]) => {
      await account.aws.kms.send(
        new PutKeyPolicyCommand({
          KeyId: keyArn.split('/').at(-1),
          PolicyName: 'default',
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [accountRoot(account.id), ...statements],
          }),
        }),
      );
    };
    await apply(source, sourceKeyArn, generated.sourceDefaultKeyStatements);
    await apply(target, targetKeyArn, generated.targetKeyStatements);
    const putRolePolicy = (account: Account, roleArn: string, document: object) =>
      account.aws.iam.send(
        new PutRolePolicyCommand({
          RoleName: roleArn.split('/').at(-1),
          PolicyName: 'ec2-restore',
          PolicyDocument: JSON.stringify(document),
        }),
      );
    await putRolePolicy(source, workerRoleArn, generated.workerRolePolicy);
    await putRolePolicy(target, restoreRoleArn, generated.restoreRolePolicy!);
    await target.aws.iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: restoreRoleArn.split('/').at(-1),
        PolicyDocument: JSON.stringify(generated.restoreRoleTrustPolicy),
      }),
    );
    const request = restoreRequestSchema.parse({
      restorePointId: 'rp-preflight',
      target: {
        accountId: target.id,
        region: REGION,
        roleArn: restoreRoleArn,
        externalId,
        kmsKeyId: targetKeyArn,
      },
    });
    const sourceCredentials = assumeRoleCredentials({
      region: REGION,
      roleArn: workerRoleArn,
      externalId: 'worker',
      sessionName: 'worker',
      sourceCredentials: credentialsForAccount(source.id),
    });
    const result = await plan(request, { sourceCredentials, restorePoint });
    expect(notPassing(result)).toEqual([]);
    expect(result.mode).toBe('cross-account');
  });

  it('a restore role whose trust policy does not name the source account cannot be assumed', async () => {
    const { source, request } = await crossAccountSetup({ defaultKey: 'customer', trust: 'stranger' });
    const result = await plan(request, { sourceCredentials: credentialsForAccount(source.id), restorePoint });
    expect(result.ok).toBe(false);
    const check = byId(result, 'restore-role-assumable');
    expect(check.status).toBe('fail');
    expect(check.message).toContain('AccessDenied');
    expect(check.remedy?.policy?.statements[0]?.Condition).toEqual({
      StringEquals: { 'sts:ExternalId': request.target.externalId },
    });
    expect(result.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual([
      'restore-role-assumable',
    ]);
  });

  it('a wrong ExternalId cannot assume the restore role', async () => {
    const setup = await crossAccountSetup({ defaultKey: 'customer', externalId: 'the-right-one' });
    const request = { ...setup.request, target: { ...setup.request.target, externalId: 'a-wrong-one' } };
    const result = await plan(request, {
      sourceCredentials: credentialsForAccount(setup.source.id),
      restorePoint,
    });
    expect(byId(result, 'restore-role-assumable').status).toBe('fail');
    expect(result.ok).toBe(false);
  });

  it('another account: the target key policy must let the restore role in', async () => {
    const setup = await crossAccountSetup({ defaultKey: 'customer' });
    const closedKey = await keyArnOf(setup.target, {
      ...accountRoot(setup.target.id),
      Principal: { AWS: `arn:aws:iam::${setup.target.id}:role/KeyAdmin` },
    });
    const request = { ...setup.request, target: { ...setup.request.target, kmsKeyId: closedKey } };
    const result = await plan(request, {
      sourceCredentials: credentialsForAccount(setup.source.id),
      restorePoint,
    });
    // The restore role cannot even describe the key: the emulator enforces the key policy.
    expect(result.ok).toBe(false);
    expect(byId(result, 'target-key.exists').message).toMatch(/AccessDenied/);
  });

  it('worker credentials that do not work give no mode and a failing worker-identity', async () => {
    const request = restoreRequestSchema.parse({
      restorePointId: 'rp-preflight',
      target: { accountId: randomAccountId(), region: REGION, kmsKeyId: 'alias/any' },
    });
    const result = await plan(request, {
      endpoint: 'http://127.0.0.1:9',
      sourceCredentials: credentialsForAccount(randomAccountId()),
      restorePoint,
    });
    expect(result.mode).toBeNull();
    expect(result.ok).toBe(false);
    expect(byId(result, 'worker-identity').status).toBe('fail');
  });
});

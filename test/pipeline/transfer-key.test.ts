import { DescribeVolumesCommand, GetEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import {
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  ListGrantsCommand,
  ListKeysCommand,
  PutKeyPolicyCommand,
  paginateListKeys,
} from '@aws-sdk/client-kms';
import {
  type CleanupJobResult,
  jobIdFor,
  keyPolicyPrincipalsBeyond,
  type PlanResult,
  QueueName,
  type ShareJobResult,
  transferKeyAliasFor,
} from '@ec2-restore/contracts';
import { ensureTransferKey, transferKeyToShare } from '@ec2-restore/pipeline';
import type { Restore } from '@ec2-restore/restore-state';
import { describe, expect, it, type TestContext } from 'vitest';
import { type CrossAccounts, newAccount, openWorldOf, SDK_RETRIES, type World } from '../support/index.ts';

const DEVICES = ['/dev/xvda', '/dev/xvdb'];

/**
 * What the target account may do with the source account's keys once the restore is over: no grant
 * on any key names a principal of the target account, and no key policy lets one act, except the
 * transfer key's, which names the restore role and nothing else of the target.
 */
async function expectTargetHoldsOnlyTheTransferKey(world: CrossAccounts, transferKeyArn: string) {
  const { source, target } = world;
  const keys: string[] = [];
  for await (const page of paginateListKeys({ client: source.aws.kms }, {})) {
    keys.push(...(page.Keys ?? []).flatMap((k) => (k.KeyArn ? [k.KeyArn] : [])));
  }
  expect(keys).toContain(transferKeyArn);
  for (const keyArn of keys) {
    const { Grants = [] } = await source.aws.kms.send(new ListGrantsCommand({ KeyId: keyArn }));
    const toTarget = Grants.filter((g) => `${g.GranteePrincipal}`.includes(target.id));
    expect(toTarget, `grants to the target account on ${keyArn}`).toEqual([]);
    const { Policy = '{}' } = await source.aws.kms.send(
      new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }),
    );
    const outside = keyPolicyPrincipalsBeyond(JSON.parse(Policy), source.id, '');
    expect(outside, `principals outside the source account in the policy of ${keyArn}`).toEqual(
      keyArn === transferKeyArn ? [world.roleArn] : [],
    );
  }
}

/** Another account, from a source whose EBS default key is aws/ebs; the three workers running. */
async function openAwsEbsSourceWorld(context: TestContext, options: { api?: true; workerInstance?: true }) {
  const world = await openWorldOf(context, {
    accounts: 'cross',
    sourceDefaultKey: 'aws/ebs',
    devices: DEVICES,
    ...options,
  });
  world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
  return world as World & CrossAccounts;
}

/** The share job's result, once every snapshot it shared is encrypted with the transfer key; and that key. */
async function sharedWithTheTransferKey(world: World & CrossAccounts, restoreId: string) {
  const shared = (await world.jobResult(QueueName.Share, jobIdFor(restoreId, 'share'))) as ShareJobResult;
  const transferKeyArn = await transferKeyArnOf(world);
  for (const snapshot of shared.snapshots) expect(snapshot.kmsKeyId).toBe(transferKeyArn);
  return { shared, transferKeyArn };
}

async function transferKeyArnOf(world: CrossAccounts): Promise<string> {
  const { KeyMetadata } = await world.source.aws.kms.send(
    new DescribeKeyCommand({ KeyId: transferKeyAliasFor(world.roleArn) }),
  );
  return KeyMetadata?.Arn ?? '';
}

/** The restored volumes are in the target account, encrypted with the target key. */
async function expectRestoredWithTargetKey(world: World, restore: Restore) {
  expect(restore.result?.accountId).toBe(world.target.id);
  const { Volumes = [] } = await world.target.aws.ec2.send(
    new DescribeVolumesCommand({ VolumeIds: restore.result?.volumes.map((v) => v.volumeId) ?? [] }),
  );
  expect(Volumes.map((v) => v.Attachments?.[0]?.Device).sort()).toEqual(DEVICES);
  for (const volume of Volumes) expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });
}

// The two restores run at once, each in its own world.
describe.concurrent('transfer key: another account from a source whose EBS default key is aws/ebs (docs/security.md#the-transfer-key)', {
  timeout: 600_000,
}, () => {
  it('ebs-direct, kmsGrant auto, through the API: the plan offers and shows the transfer key; the restore succeeds; the grant is retired', async (context) => {
    const world = await openAwsEbsSourceWorld(context, { api: true });
    const { KmsKeyId: defaultKey } = await world.source.aws.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
    const { KeyMetadata: defaultKeyMetadata } = await world.source.aws.kms.send(
      new DescribeKeyCommand({ KeyId: defaultKey }),
    );
    expect(defaultKeyMetadata?.KeyManager).toBe('AWS');
    const request = world.request({ kmsGrant: 'auto' });

    // Without the transfer key, aws/ebs cannot be shared: the pre-flight refuses and offers the transfer key.
    const refused = (await (await world.api.post('/v1/restores/plan', request)).json()) as PlanResult;
    expect(refused.ok).toBe(false);
    const customerManaged = refused.checks.find((c) => c.id === 'source-default-key.customer-managed');
    expect(customerManaged?.status).toBe('fail');
    expect(customerManaged?.remedy?.summary).toContain('"transferKey": true');

    const alias = transferKeyAliasFor(world.roleArn);
    const withKey = { ...request, transferKey: true };
    const planned = (await (await world.api.post('/v1/restores/plan', withKey)).json()) as PlanResult;
    expect(planned.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(planned.sharedKey).toEqual({ kind: 'transfer', keyId: null, alias, createdOnFirstUse: true });

    const { status, restore: accepted } = await world.postRestore(withKey);
    expect(status, JSON.stringify(accepted)).toBe(202);

    const { shared, transferKeyArn } = await sharedWithTheTransferKey(world, accepted.id);
    expect(shared.grant?.keyId).toBe(transferKeyArn);

    const restore = await world.waitForEnd(accepted.id, 400_000);
    expect(restore.status, world.output()).toBe('succeeded');
    await expectRestoredWithTargetKey(world, restore);
    const cleanup = (await world.jobResult(
      QueueName.Instance,
      jobIdFor(accepted.id, 'cleanup'),
    )) as CleanupJobResult;
    expect(cleanup.retiredGrants).toEqual([shared.grant?.grantId]);
    await expectTargetHoldsOnlyTheTransferKey(world, transferKeyArn);

    // The key is kept for the next restore with this role: the plan now names it.
    const next = (await (await world.api.post('/v1/restores/plan', withKey)).json()) as PlanResult;
    expect(next.sharedKey).toEqual({
      kind: 'transfer',
      keyId: transferKeyArn,
      alias,
      createdOnFirstUse: false,
    });
    expect(next.checks.find((c) => c.id === 'transfer-key')?.status).toBe('pass');
  });

  it('worker-volume, kmsGrant none: the worker volumes are created with the transfer key, the restore succeeds', async (context) => {
    const world = await openAwsEbsSourceWorld(context, { workerInstance: true });
    const id = await world.startRestore(
      world.request({ dataPath: 'worker-volume', kmsGrant: 'none', transferKey: true }),
    );
    const { shared, transferKeyArn } = await sharedWithTheTransferKey(world, id);
    expect(shared.grant).toBeNull();

    const restore = await world.waitForEnd(id, 400_000);
    expect(restore.status, world.output()).toBe('succeeded');
    await expectRestoredWithTargetKey(world, restore);
    await expectTargetHoldsOnlyTheTransferKey(world, transferKeyArn);
  });
});

describe('transfer key: created once, shared only while its policy is the product’s', () => {
  it('two snapshot jobs at once create one key; a policy widened afterwards makes the share refuse', async () => {
    const source = newAccount(SDK_RETRIES);
    try {
      const roleArn = 'arn:aws:iam::222222222222:role/Restore';
      const keysBefore = (await source.aws.kms.send(new ListKeysCommand({}))).Keys?.length ?? 0;
      const [a, b] = await Promise.all([
        ensureTransferKey(source.aws, roleArn),
        ensureTransferKey(source.aws, roleArn),
      ]);
      expect(a.Arn).toBe(b.Arn);
      expect((await source.aws.kms.send(new ListKeysCommand({}))).Keys?.length).toBe(keysBefore + 1);
      expect((await transferKeyToShare(source.aws, roleArn)).Arn).toBe(a.Arn);

      // Someone lets another account use it: the share step refuses, naming that principal.
      const { Policy = '{}' } = await source.aws.kms.send(
        new GetKeyPolicyCommand({ KeyId: a.Arn, PolicyName: 'default' }),
      );
      const policy = JSON.parse(Policy) as { Statement: object[] };
      policy.Statement.push({
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::999999999999:root' },
        Action: 'kms:Decrypt',
        Resource: '*',
      });
      await source.aws.kms.send(
        new PutKeyPolicyCommand({ KeyId: a.Arn, PolicyName: 'default', Policy: JSON.stringify(policy) }),
      );
      await expect(transferKeyToShare(source.aws, roleArn)).rejects.toMatchObject({
        code: 'job_refused',
        message: expect.stringContaining('arn:aws:iam::999999999999:root'),
      });
    } finally {
      source.aws.destroy();
    }
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeVolumesCommand, GetEbsDefaultKmsKeyIdCommand } from '@aws-sdk/client-ec2';
import {
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  ListGrantsCommand,
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
import type { Restore } from '@ec2-restore/restore-state';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './api-server.ts';
import {
  type Account,
  type Backup,
  type CrossAccountWorld,
  createBackup,
  crossAccountWorld,
  jobResult,
  launchInstance,
  openPipeline,
  type Pipeline,
  REGION,
  removeBackup,
  startRestore,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from './harness.ts';

const DEVICES = ['/dev/xvda', '/dev/xvdb'];

/**
 * What the target account may do with the source account's keys once the restore is over: no grant
 * on any key names a principal of the target account, and no key policy lets one act, except the
 * transfer key's, which names the restore role and nothing else of the target.
 */
async function expectTargetHoldsOnlyTheTransferKey(world: CrossAccountWorld, transferKeyArn: string) {
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

async function transferKeyArnOf(world: CrossAccountWorld): Promise<string> {
  const { KeyMetadata } = await world.source.aws.kms.send(
    new DescribeKeyCommand({ KeyId: transferKeyAliasFor(world.roleArn) }),
  );
  return KeyMetadata?.Arn ?? '';
}

/** The restored volumes are in the target account, encrypted with the target key, made from the shared snapshots. */
async function expectRestoredWithTargetKey(world: CrossAccountWorld, restore: Restore) {
  expect(restore.result?.accountId).toBe(world.target.id);
  const { Volumes = [] } = await world.target.aws.ec2.send(
    new DescribeVolumesCommand({ VolumeIds: restore.result?.volumes.map((v) => v.volumeId) ?? [] }),
  );
  expect(Volumes.map((v) => v.Attachments?.[0]?.Device).sort()).toEqual(DEVICES);
  for (const volume of Volumes) expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });
}

/** A restore of `backup` into the world's target account (its role, key and subnet), with `extra` fields. */
function requestInto(world: CrossAccountWorld, backup: Backup, extra: Record<string, unknown>) {
  return {
    restorePointId: backup.restorePoint.id,
    target: {
      accountId: world.target.id,
      region: REGION,
      roleArn: world.roleArn,
      externalId: world.externalId,
      kmsKeyId: world.targetKey,
    },
    instance: { subnetId: world.targetSubnetId },
    ...extra,
  };
}

describe('transfer key: another account from a source whose EBS default key is aws/ebs (docs/security.md#the-transfer-key)', () => {
  let backup: Backup;
  let pipeline: Pipeline | undefined;
  let api: ApiServer | undefined;
  let deviceDir: string | undefined;
  const accounts: Account[] = [];
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    backup = await createBackup(DEVICES);
  }, 300_000);
  afterAll(async () => {
    await removeBackup(backup);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await api?.close();
    await pipeline?.close();
    for (const account of accounts.splice(0)) account.aws.destroy();
    if (deviceDir) await rm(deviceDir, { recursive: true, force: true });
  });

  it('ebs-direct, kmsGrant auto, through the API: the plan offers and shows the transfer key; the restore succeeds; the grant is retired', {
    timeout: 600_000,
  }, async () => {
    pipeline = openPipeline();
    const world = await crossAccountWorld({ sourceDefaultKey: 'aws/ebs' });
    accounts.push(world.source, world.target);
    const { KmsKeyId: defaultKey } = await world.source.aws.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}));
    const { KeyMetadata: defaultKeyMetadata } = await world.source.aws.kms.send(
      new DescribeKeyCommand({ KeyId: defaultKey }),
    );
    expect(defaultKeyMetadata?.KeyManager).toBe('AWS');
    api = await startApiServer(pipeline, backup, world.source.id);
    const request = requestInto(world, backup, { kmsGrant: 'auto' });

    // Without the transfer key, aws/ebs cannot be shared: the pre-flight refuses and offers the transfer key.
    const refused = (await (
      await api.call('/v1/restores/plan', { method: 'POST', json: request })
    ).json()) as PlanResult;
    expect(refused.ok).toBe(false);
    const customerManaged = refused.checks.find((c) => c.id === 'source-default-key.customer-managed');
    expect(customerManaged?.status).toBe('fail');
    expect(customerManaged?.remedy?.summary).toContain('"transferKey": true');

    const alias = transferKeyAliasFor(world.roleArn);
    const planned = (await (
      await api.call('/v1/restores/plan', { method: 'POST', json: { ...request, transferKey: true } })
    ).json()) as PlanResult;
    expect(planned.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(planned.sharedKey).toEqual({ kind: 'transfer', keyId: null, alias, createdOnFirstUse: true });

    const env = workerEnv(pipeline, world.source, backup);
    workers.push(
      startWorker('snapshot-worker', env),
      startWorker('share-worker', env),
      startWorker('instance-worker', env),
    );
    const response = await api.call('/v1/restores', {
      method: 'POST',
      json: { ...request, transferKey: true },
    });
    const accepted = (await response.json()) as Restore;
    expect(response.status, JSON.stringify(accepted)).toBe(202);

    const shared = (await jobResult(
      pipeline,
      QueueName.Share,
      jobIdFor(accepted.id, 'share'),
      workers,
    )) as ShareJobResult;
    const transferKeyArn = await transferKeyArnOf(world);
    for (const snapshot of shared.snapshots) expect(snapshot.kmsKeyId).toBe(transferKeyArn);
    expect(shared.grant?.keyId).toBe(transferKeyArn);

    const restore = await waitForEnd(pipeline.store, accepted.id, 400_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    await expectRestoredWithTargetKey(world, restore);
    const cleanup = (await jobResult(
      pipeline,
      QueueName.Instance,
      jobIdFor(accepted.id, 'cleanup'),
      workers,
    )) as CleanupJobResult;
    expect(cleanup.retiredGrants).toEqual([shared.grant?.grantId]);
    await expectTargetHoldsOnlyTheTransferKey(world, transferKeyArn);

    // The key is kept for the next restore with this role: the plan now names it.
    const next = (await (
      await api.call('/v1/restores/plan', { method: 'POST', json: { ...request, transferKey: true } })
    ).json()) as PlanResult;
    expect(next.sharedKey).toEqual({
      kind: 'transfer',
      keyId: transferKeyArn,
      alias,
      createdOnFirstUse: false,
    });
    expect(next.checks.find((c) => c.id === 'transfer-key')?.status).toBe('pass');
  });

  it('worker-volume, kmsGrant none: the worker volumes are created with the transfer key, the restore succeeds', {
    timeout: 600_000,
  }, async () => {
    pipeline = openPipeline();
    const world = await crossAccountWorld({ sourceDefaultKey: 'aws/ebs' });
    accounts.push(world.source, world.target);
    const workerInstanceId = await launchInstance(world.source);
    deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
    const env = workerEnv(pipeline, world.source, backup, {
      WORKER_INSTANCE_ID: workerInstanceId,
      WORKER_DEVICE_DIR: deviceDir,
    });
    workers.push(
      startWorker('snapshot-worker', env),
      startWorker('share-worker', env),
      startWorker('instance-worker', env),
    );
    const id = await startRestore(
      pipeline,
      requestInto(world, backup, { dataPath: 'worker-volume', transferKey: true }),
      { restorePoint: backup.restorePoint, sourceAccountId: world.source.id },
    );
    const shared = (await jobResult(
      pipeline,
      QueueName.Share,
      jobIdFor(id, 'share'),
      workers,
    )) as ShareJobResult;
    const transferKeyArn = await transferKeyArnOf(world);
    for (const snapshot of shared.snapshots) expect(snapshot.kmsKeyId).toBe(transferKeyArn);
    expect(shared.grant).toBeNull();

    const restore = await waitForEnd(pipeline.store, id, 400_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    await expectRestoredWithTargetKey(world, restore);
    await expectTargetHoldsOnlyTheTransferKey(world, transferKeyArn);
  });
});

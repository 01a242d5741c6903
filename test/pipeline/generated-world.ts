/**
 * A world whose principals hold ONLY what the policy generator writes: a worker role in the source
 * account and, for another account, a restore role in the target account, each with the generated
 * IAM policy (and trust policy), and keys whose policies are the account's root statement plus the
 * generated key statements. The emulator enforces all of it (identity policies, key policies,
 * grants, trust policies), so a restore that runs here proves the generated policies are enough.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
} from '@aws-sdk/client-ec2';
import { UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, ListGrantsCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { assumeRoleCredentials } from '@ec2-restore/aws-clients';
import type {
  DataPath,
  KmsGrantMode,
  LaunchStrategy,
  RestoreMode,
  RestoreRequest,
  RestoreRequestInput,
} from '@ec2-restore/contracts';
import { jobIdFor, QueueName, RestoreTag, restoreRequestSchema } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { describeTransferKey } from '@ec2-restore/pipeline';
import {
  type GeneratedPolicies,
  generatePolicies,
  type PolicyConfiguration,
  type PolicyStatement,
  plan,
  type S3RepositoryLocation,
} from '@ec2-restore/preflight';
import type { Restore } from '@ec2-restore/restore-state';
import { expect } from 'vitest';
import {
  type Account,
  type Backup,
  createRestoreRole,
  defaultSubnet,
  jobResult,
  launchInstance,
  newAccount,
  newBucket,
  openPipeline,
  type Pipeline,
  putRolePolicy,
  REGION,
  removeBackup,
  SDK_RETRIES,
  startRestore,
  startWorker,
  waitForEnd,
  workerEnv,
} from '../support/index.ts';

export interface GeneratedWorldShape {
  mode: RestoreMode;
  dataPath: DataPath;
  kmsGrant: KmsGrantMode;
  /** Another account: the request's `transferKey` (the product creates the key on first use). */
  transferKey?: boolean;
  /** The request's instance.launchStrategy (else the restore point decides: register-image for Linux). */
  launch?: LaunchStrategy;
  /** `s3`: the backup repository is in a bucket of the source account, which the worker role reads. */
  repository?: 's3';
}

export interface GeneratedWorld {
  shape: GeneratedWorldShape;
  source: Account;
  /** The source account itself for the same account. */
  target: Account;
  workerRoleArn: string;
  restoreRoleArn?: string;
  externalId?: string;
  targetKey: string;
  sourceDefaultKey?: string;
  subnetId: string;
  /** The S3 backup repository of the world (`repository: 's3'`): a new bucket, under a prefix. */
  s3Repository?: S3RepositoryLocation;
  /** What the generator wrote for this world (applied by `generatedWorld`). */
  generated: GeneratedPolicies;
  /** Puts these policies (the generated ones, or a variant) on the roles and keys. */
  apply(policies: GeneratedPolicies): Promise<void>;
  /** The restore request of this world, with `extra` merged in. */
  request(restorePointId: string, extra?: Partial<RestoreRequestInput>): RestoreRequest;
  /** Worker role credentials as a provider (for plan()). */
  workerCredentials(): ReturnType<typeof assumeRoleCredentials>;
  /** Worker role session credentials as the variables a worker process reads. */
  workerEnvironment(): Promise<Record<string, string>>;
  destroy(): void;
}

/**
 * The account root may manage its key and lets IAM policies of the account delegate use of it
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html): the AWS default.
 */
const rootStatement = (accountId: string): PolicyStatement => ({
  Sid: 'EnableIamPolicies',
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${accountId}:root` },
  Action: 'kms:*',
  Resource: '*',
});

const WORKER_ROLE_EXTERNAL_ID = 'worker-process';

async function createKeyWithRootOnly(account: Account): Promise<string> {
  const { KeyMetadata } = await account.aws.kms.send(
    new CreateKeyCommand({
      Description: 'generated-policies world',
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [rootStatement(account.id)] }),
    }),
  );
  return KeyMetadata?.Arn ?? '';
}

const roleName = (arn: string) => arn.split('/').at(-1) ?? '';
const keyId = (arn: string) => arn.split('/').at(-1) ?? '';

/** Two fresh accounts (one for the same account) set up with the generated policies only. */
export async function generatedWorld(
  shape: GeneratedWorldShape,
  options: { endpoint?: string } = {},
): Promise<GeneratedWorld> {
  const cross = shape.mode === 'cross-account';
  const clientOptions = { ...SDK_RETRIES, ...(options.endpoint ? { endpoint: options.endpoint } : {}) };
  const source = newAccount(clientOptions);
  const target = cross ? newAccount(clientOptions) : source;
  // Roles with no policy yet (apply() puts the generated ones); the worker role is assumed by the source root.
  const workerRoleArn = await createRestoreRole(source, source.id, WORKER_ROLE_EXTERNAL_ID, null);
  const externalId = cross ? `ext-${randomUUID()}` : undefined;
  const restoreRoleArn = cross ? await createRestoreRole(target, source.id, externalId, null) : undefined;
  const targetKey = await createKeyWithRootOnly(target);
  let sourceDefaultKey: string | undefined;
  if (cross) {
    sourceDefaultKey = await createKeyWithRootOnly(source);
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceDefaultKey }));
  }
  const s3Repository =
    shape.repository === 's3' ? { bucket: await newBucket(source), prefix: 'backups/prod' } : undefined;
  const config: PolicyConfiguration = {
    mode: shape.mode,
    region: REGION,
    dataPath: shape.dataPath,
    kmsGrant: shape.kmsGrant,
    ...(shape.transferKey ? { transferKey: true } : {}),
    workerRoleArn,
    targetKeyArn: targetKey,
    ...(restoreRoleArn ? { restoreRoleArn, externalId, sourceDefaultKeyArn: sourceDefaultKey } : {}),
    ...(s3Repository ? { s3Repository } : {}),
  };
  const generated = generatePolicies(config);
  const subnetId = (await defaultSubnet(target)).subnetId;

  const putKeyPolicy = (account: Account, arn: string, statements: PolicyStatement[]) =>
    account.aws.kms.send(
      new PutKeyPolicyCommand({
        KeyId: keyId(arn),
        PolicyName: 'default',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [rootStatement(account.id), ...statements],
        }),
      }),
    );
  const world: GeneratedWorld = {
    shape,
    source,
    target,
    workerRoleArn,
    ...(restoreRoleArn ? { restoreRoleArn, externalId } : {}),
    targetKey,
    ...(sourceDefaultKey ? { sourceDefaultKey } : {}),
    subnetId,
    ...(s3Repository ? { s3Repository } : {}),
    generated,
    async apply(policies) {
      await putRolePolicy(source, workerRoleArn, JSON.stringify(policies.workerRolePolicy));
      await putKeyPolicy(target, targetKey, policies.targetKeyStatements);
      if (sourceDefaultKey) await putKeyPolicy(source, sourceDefaultKey, policies.sourceDefaultKeyStatements);
      if (restoreRoleArn && policies.restoreRolePolicy) {
        await putRolePolicy(target, restoreRoleArn, JSON.stringify(policies.restoreRolePolicy));
        await target.aws.iam.send(
          new UpdateAssumeRolePolicyCommand({
            RoleName: roleName(restoreRoleArn),
            PolicyDocument: JSON.stringify(policies.restoreRoleTrustPolicy),
          }),
        );
      }
    },
    request(restorePointId, extra = {}) {
      return restoreRequestSchema.parse({
        restorePointId,
        dataPath: shape.dataPath,
        kmsGrant: shape.kmsGrant,
        ...(shape.transferKey ? { transferKey: true } : {}),
        target: {
          accountId: target.id,
          region: REGION,
          kmsKeyId: targetKey,
          ...(restoreRoleArn ? { roleArn: restoreRoleArn, externalId } : {}),
        },
        instance: { subnetId, ...(shape.launch ? { launchStrategy: shape.launch } : {}) },
        ...extra,
      });
    },
    workerCredentials() {
      return assumeRoleCredentials({
        region: REGION,
        roleArn: workerRoleArn,
        externalId: WORKER_ROLE_EXTERNAL_ID,
        sessionName: 'worker',
        sourceCredentials: credentialsForAccount(source.id),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      });
    },
    async workerEnvironment() {
      const { Credentials } = await source.aws.sts.send(
        new AssumeRoleCommand({
          RoleArn: workerRoleArn,
          RoleSessionName: 'worker-process',
          ExternalId: WORKER_ROLE_EXTERNAL_ID,
          DurationSeconds: 3600,
        }),
      );
      return {
        AWS_ACCESS_KEY_ID: Credentials?.AccessKeyId ?? '',
        AWS_SECRET_ACCESS_KEY: Credentials?.SecretAccessKey ?? '',
        AWS_SESSION_TOKEN: Credentials?.SessionToken ?? '',
      };
    },
    destroy() {
      source.aws.destroy();
      if (cross) target.aws.destroy();
    },
  };
  await world.apply(generated);
  return world;
}

/** Nothing temporary of the restore is left in the source account, and no grant of it on the source default or transfer key. */
export async function expectNothingLeft(world: GeneratedWorld, restoreId: string): Promise<void> {
  const filters = [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] }];
  const { Snapshots = [] } = await world.source.aws.ec2.send(
    new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters }),
  );
  expect(Snapshots).toEqual([]);
  const { Volumes = [] } = await world.source.aws.ec2.send(
    new DescribeVolumesCommand({
      Filters: [...filters, { Name: `tag:${RestoreTag.Step}`, Values: ['snapshot'] }],
    }),
  );
  expect(Volumes).toEqual([]);
  // The transfer key stays (it serves the restore role's next restores); the restore's grant on it goes.
  const transferKey = world.restoreRoleArn
    ? await describeTransferKey(world.source.aws.kms, world.restoreRoleArn)
    : null;
  for (const keyId of [world.sourceDefaultKey, transferKey?.Arn]) {
    if (!keyId) continue;
    const { Grants = [] } = await world.source.aws.kms.send(new ListGrantsCommand({ KeyId: keyId }));
    expect(Grants.filter((g) => g.Name?.includes(restoreId))).toEqual([]);
  }
}

/**
 * One restore of `world` run by worker processes holding a session of its generated worker role
 * (and, for worker-volume, a worker instance with emulated devices); waits for the end and the
 * cleanup. Closes its workers and device folder itself.
 */
export async function restoreAsGeneratedPrincipals(
  world: GeneratedWorld,
  run: { pipeline: Pipeline; backup: Backup; request: RestoreRequest; endpoint?: string },
): Promise<Restore> {
  const extra: Record<string, string> = {
    ...(await world.workerEnvironment()),
    ...(run.endpoint ? { AWS_ENDPOINT_URL: run.endpoint } : {}),
  };
  const deviceDir =
    world.shape.dataPath === 'worker-volume' ? await mkdtemp(join(tmpdir(), 'ec2r-devices-')) : undefined;
  if (deviceDir) {
    extra.WORKER_INSTANCE_ID = await launchInstance(world.source);
    extra.WORKER_DEVICE_DIR = deviceDir;
  }
  const env = workerEnv(run.pipeline, world.source.id, run.backup.repositoryPath, extra);
  const workers = [startWorker('snapshot-worker', env), startWorker('instance-worker', env)];
  if (world.shape.mode === 'cross-account') workers.push(startWorker('share-worker', env));
  try {
    const id = await startRestore(run.pipeline, run.request, {
      restorePoint: run.backup.restorePoint,
      sourceAccountId: world.source.id,
    });
    const restore = await waitForEnd(run.pipeline.store, id, 500_000);
    expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
    expect(restore.result?.accountId).toBe(world.target.id);
    await jobResult(run.pipeline, QueueName.Instance, jobIdFor(id, 'cleanup'), workers);
    await expectNothingLeft(world, id);
    return restore;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    if (deviceDir) await rm(deviceDir, { recursive: true, force: true });
  }
}

/** The restored volumes are in the target account, encrypted with the target key, attached to the restored instance. */
export async function expectRestoredVolumes(world: GeneratedWorld, restore: Restore, count: number) {
  const volumeIds = restore.result?.volumes.map((v) => v.volumeId) ?? [];
  expect(volumeIds).toHaveLength(count);
  const { Volumes = [] } = await world.target.aws.ec2.send(
    new DescribeVolumesCommand({ VolumeIds: volumeIds }),
  );
  expect(Volumes).toHaveLength(count);
  for (const volume of Volumes) {
    expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });
    expect(volume.Attachments?.[0]?.InstanceId).toBe(restore.result?.instanceId);
  }
}

/**
 * What a restore point made now records of a Linux instance beside test/support's INSTANCE: boot
 * mode, ENA and billing (without them the launch checks warn that they cannot tell).
 */
export const RECORDED_LINUX = {
  bootMode: 'legacy-bios',
  enaSupport: true,
  billing: { platformDetails: 'Linux/UNIX', usageOperation: 'RunInstances' },
} as const;

/** A restore of one shape: whole instance, or one volume into an existing instance of the target account. */
export interface GeneratedRestoreCase extends GeneratedWorldShape {
  volumeLevel?: boolean;
}

/**
 * One restore of `c` in a world of its own, on a pipeline of its own (so restores of several shapes
 * run at once): the pre-flight as the generated principals passes every check, the restore succeeds,
 * nothing temporary is left, the restored volumes are encrypted with the target key and attached.
 */
export async function restoreGeneratedCase(
  c: GeneratedRestoreCase,
  backupOrMake: Backup | ((world: GeneratedWorld) => Promise<Backup>),
  options: { endpoint?: string } = {},
): Promise<void> {
  const pipeline = openPipeline();
  const world = await generatedWorld(c, options.endpoint ? { endpoint: options.endpoint } : {});
  let made: Backup | undefined;
  try {
    // A backup made for this world (one in its S3 repository) is removed with it.
    if (typeof backupOrMake === 'function') made = await backupOrMake(world);
    const backup = made ?? (backupOrMake as Backup);
    const existing = c.volumeLevel ? await launchInstance(world.target) : undefined;
    const request = world.request(backup.restorePoint.id, {
      // Volume-level: the last volume of the restore point (not its root).
      ...(existing
        ? {
            instance: { instanceId: existing },
            volumes: [backup.restorePoint.volumes.at(-1)?.deviceName ?? ''],
          }
        : {}),
    });
    const preflight = await plan(request, {
      // Nine pre-flights at once beside three other test files on a CI bound by CPU: this test checks
      // the policies, not the product's 10 s deadline (a run past it failed with PreflightDeadlineError).
      deadlineMs: 60_000,
      sourceCredentials: world.workerCredentials(),
      restorePoint: {
        ...backup.restorePoint,
        ...(world.s3Repository ? { repository: world.s3Repository } : {}),
      },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
    expect(preflight.checks.filter((check) => check.status !== 'pass')).toEqual([]);

    const restore = await restoreAsGeneratedPrincipals(world, {
      pipeline,
      backup,
      request,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
    if (existing) expect(restore.result?.instanceId).toBe(existing);
    else expect(restore.result?.launchStrategy).toBe(c.launch ?? 'register-image');
    await expectRestoredVolumes(world, restore, c.volumeLevel ? 1 : backup.restorePoint.volumes.length);
  } finally {
    await pipeline.close();
    world.destroy();
    await removeBackup(made);
  }
}

/**
 * The world of an end-to-end restore test: fresh emulator accounts (one, or a source and a target set
 * up as docs/architecture.md#the-two-flows requires for a restore into another account), a backup of
 * its own, Redis prefixes of its own, the worker services as processes, and the API over HTTP on
 * demand. `close()` stops and removes all of it.
 */
import { randomUUID } from 'node:crypto';
import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Instance,
  ModifyEbsDefaultKmsKeyIdCommand,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import type { RestoreRequestInput } from '@ec2-restore/contracts';
import { RestoreTag } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { generatePolicies, type PolicyStatement } from '@ec2-restore/preflight';
import type { Restore } from '@ec2-restore/restore-state';
import { afterEach, type TestContext } from 'vitest';
import { type Account, defaultSubnet, launchInstance, newAccount, REGION, SDK_RETRIES } from './accounts.ts';
import { type ApiHarness, startApi, TOKEN } from './api.ts';
import { type Backup, createBackup, removeBackup, tempDir } from './backup.ts';
import { createKey, createRestoreRole, keyUsableBy, putRolePolicy } from './keys.ts';
import {
  jobResult,
  openPipeline,
  type Pipeline,
  startRestore,
  startWorker,
  type WorkerName,
  type WorkerProcess,
  waitForEnd,
  waitForRestore,
  workerEnv,
} from './pipeline.ts';

/** Accounts set up for restores: `target` is `source` in a same-account world. */
export interface Accounts {
  source: Account;
  target: Account;
  /** The target key, in the target account (usable by the restore role in a cross-account world). */
  targetKey: string;
  targetSubnetId: string;
  /** Cross-account only: the restore role in the target account the source may assume. */
  roleArn?: string;
  externalId?: string;
  /**
   * Cross-account only: the source default key, customer managed, usable by the target account; or
   * `alias/aws/ebs` (a world opened with `sourceDefaultKey: 'aws/ebs'`, for transfer key restores).
   */
  sourceDefaultKey?: string;
}

/** Accounts of a restore into another account: every field set. */
export type CrossAccounts = Required<Accounts>;

/**
 * The restore role's IAM policy as the product's policy generator writes it, for every data path
 * and KMS grant mode (a world serves restores of each): the restores then prove the generated
 * policy is enough. A source that keeps aws/ebs serves restores with the transfer key (`transferKey`),
 * which does not exist yet: its statements name the source account's keys of the region.
 */
export function generatedRestoreRolePolicy(w: CrossAccounts): string {
  const statements = new Map<string, PolicyStatement>();
  const transferKey = !w.sourceDefaultKey.startsWith('arn:');
  for (const dataPath of ['ebs-direct', 'worker-volume'] as const) {
    for (const kmsGrant of ['none', 'auto'] as const) {
      const generated = generatePolicies({
        transferKey,
        mode: 'cross-account',
        region: REGION,
        dataPath,
        kmsGrant,
        // The tests run the workers with the source account's root credentials.
        workerRoleArn: w.source.rootArn,
        restoreRoleArn: w.roleArn,
        externalId: w.externalId,
        targetKeyArn: w.targetKey,
        sourceDefaultKeyArn: w.sourceDefaultKey,
      });
      const generatedStatements = generated.restoreRolePolicy?.Statement ?? [];
      for (const statement of Array.isArray(generatedStatements)
        ? generatedStatements
        : [generatedStatements]) {
        statements.set(JSON.stringify(statement), statement);
      }
    }
  }
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [...statements.values()],
  });
}

/** One fresh account: a customer managed target key and its default subnet. */
export async function sameAccount(): Promise<Accounts> {
  const source = newAccount(SDK_RETRIES);
  return {
    source,
    target: source,
    targetKey: (await createKey(source)).Arn,
    targetSubnetId: (await defaultSubnet(source)).subnetId,
  };
}

/**
 * Two fresh accounts: in the target a restore role the source may assume (its IAM policy the generated
 * one) and a target key the role may use; in the source a customer managed EBS default key the target
 * may use, or (`sourceDefaultKey: 'aws/ebs'`) the AWS managed default key left as it is.
 */
export async function crossAccount(
  options: { sourceDefaultKey?: 'shareable' | 'aws/ebs' } = {},
): Promise<CrossAccounts> {
  const source = newAccount(SDK_RETRIES);
  const target = newAccount(SDK_RETRIES);
  const externalId = `ext-${randomUUID()}`;
  const roleArn = await createRestoreRole(target, source.id, externalId);
  let sourceDefaultKey = 'alias/aws/ebs';
  if (options.sourceDefaultKey !== 'aws/ebs') {
    sourceDefaultKey = await keyUsableBy(source, target.id);
    await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: sourceDefaultKey }));
  }
  const accounts = {
    source,
    target,
    externalId,
    roleArn,
    // The target key's policy names the restore role (docs/architecture.md#pre-flight-checks: it creates the volumes).
    targetKey: await keyUsableBy(target, roleArn),
    sourceDefaultKey,
    targetSubnetId: (await defaultSubnet(target)).subnetId,
  };
  await putRolePolicy(target, roleArn, generatedRestoreRolePolicy(accounts));
  return accounts;
}

// ---------------------------------------------------------------------------------------------

export interface WorldOptions {
  /** @defaultValue 'same' */
  accounts?: 'same' | 'cross';
  /** Cross-account: the source's EBS default key. @defaultValue 'shareable' (customer managed, usable by the target) */
  sourceDefaultKey?: 'shareable' | 'aws/ebs';
  /** Devices of the backed-up instance (one 1 GiB volume each). @defaultValue /dev/xvda, /dev/xvdb, /dev/xvdc */
  devices?: string[];
  /** A backup to use instead (not removed by close). */
  backup?: Backup;
  /** Boot and licensing attributes the backup records (docs/architecture.md#launch-strategies). */
  recorded?: Parameters<typeof createBackup>[2];
  /** Start the API on the world's pipeline and backup (with an admin token). */
  api?: boolean;
  /**
   * For the worker-volume data path: an instance in the source account the snapshot worker runs on,
   * and a folder where the attached volumes appear as device files (WORKER_INSTANCE_ID,
   * WORKER_DEVICE_DIR of every worker started).
   */
  workerInstance?: boolean;
}

export interface World extends Accounts {
  pipeline: Pipeline;
  backup: Backup;
  /** The API on the world's pipeline and backup (opened with `api: true`; throws otherwise). */
  readonly api: ApiHarness;
  workers: WorkerProcess[];
  /** With `workerInstance`: the worker instance and the device folder. */
  workerInstanceId?: string;
  deviceDir?: string;
  /** The worker processes' environment (worker role: the source account's root). */
  workerEnv(extra?: Record<string, string>): Record<string, string>;
  /** Starts worker services with `workerEnv(extra)`. */
  startWorkers(names: WorkerName[], extra?: Record<string, string>): WorkerProcess[];
  /** Everything the worker processes logged. */
  output(): string;
  /** The request of a restore of the world's restore point into its target (with `overrides` merged). */
  request(overrides?: Partial<RestoreRequestInput>): RestoreRequestInput;
  /** Adds a restore straight to the queues, as the API does after its checks. */
  startRestore(request: RestoreRequestInput): Promise<string>;
  /** POST /v1/restores through the API. */
  postRestore(body: object, headers?: Record<string, string>): Promise<{ status: number; restore: Restore }>;
  waitForEnd(id: string, timeoutMs?: number): Promise<Restore>;
  waitUntil(
    id: string,
    predicate: (r: Restore) => boolean,
    timeoutMs?: number,
    everyMs?: number,
  ): Promise<Restore>;
  /** Waits for a job's result (throws with the workers' output if it failed). */
  jobResult(queueName: string, jobId: string, timeoutMs?: number): Promise<unknown>;
  /** What the restores `ids` left in both accounts (by the product's tags). */
  census(ids: readonly string[]): Promise<Census>;
  close(): Promise<void>;
}

export async function openWorld(options: WorldOptions = {}): Promise<World> {
  const pipeline = openPipeline();
  const backup = options.backup ?? (await createBackup(options.devices, undefined, options.recorded));
  const accounts =
    options.accounts === 'cross'
      ? await crossAccount(options.sourceDefaultKey ? { sourceDefaultKey: options.sourceDefaultKey } : {})
      : await sameAccount();
  const api = options.api
    ? await startApi({
        pipeline,
        repositoryPath: backup.repositoryPath,
        workerCredentials: credentialsForAccount(accounts.source.id),
        // Admin: the e2e tests may also act in Bull Board (as an operator of the queues would).
        apiTokens: [{ token: TOKEN, role: 'admin' }],
      })
    : undefined;
  const workers: WorkerProcess[] = [];
  const workerInstanceId = options.workerInstance ? await launchInstance(accounts.source) : undefined;
  const devices = options.workerInstance ? await tempDir('ec2r-devices-') : undefined;
  const workerVolumeEnv: Record<string, string> =
    workerInstanceId && devices
      ? { WORKER_INSTANCE_ID: workerInstanceId, WORKER_DEVICE_DIR: devices.path }
      : {};
  const env = (extra: Record<string, string> = {}) =>
    workerEnv(pipeline, accounts.source.id, backup.repositoryPath, { ...workerVolumeEnv, ...extra });
  const world: World = {
    ...accounts,
    pipeline,
    backup,
    get api() {
      if (!api) throw new Error('this world has no API: open it with api: true');
      return api;
    },
    workers,
    ...(workerInstanceId && devices ? { workerInstanceId, deviceDir: devices.path } : {}),
    workerEnv: env,
    startWorkers(names, extra) {
      const started = names.map((name) => startWorker(name, env(extra)));
      workers.push(...started);
      return started;
    },
    output: () => workers.map((w) => w.output()).join('\n'),
    request(overrides = {}) {
      const cross = accounts.roleArn !== undefined;
      return {
        restorePointId: backup.restorePoint.id,
        target: {
          accountId: accounts.target.id,
          region: REGION,
          kmsKeyId: accounts.targetKey,
          ...(cross ? { roleArn: accounts.roleArn, externalId: accounts.externalId } : {}),
        },
        instance: { subnetId: accounts.targetSubnetId },
        ...(cross ? { kmsGrant: 'auto' as const } : {}),
        ...overrides,
      } as RestoreRequestInput;
    },
    startRestore: (request) =>
      startRestore(pipeline, request, {
        restorePoint: backup.restorePoint,
        sourceAccountId: accounts.source.id,
      }),
    async postRestore(body, headers = {}) {
      const response = await world.api.post('/v1/restores', body, headers);
      return { status: response.status, restore: (await response.json()) as Restore };
    },
    waitForEnd: (id, timeoutMs) => waitForEnd(pipeline.store, id, timeoutMs),
    waitUntil: (id, predicate, timeoutMs, everyMs) =>
      waitForRestore(pipeline.store, id, predicate, timeoutMs, everyMs),
    jobResult: (queueName, jobId, timeoutMs) => jobResult(pipeline, queueName, jobId, workers, timeoutMs),
    census: (ids) => census(accounts, ids),
    async close() {
      await Promise.all(workers.splice(0).map((w) => w.stop()));
      await api?.close();
      await pipeline.close();
      await devices?.remove();
      if (!options.backup) await removeBackup(backup);
    },
  };
  return world;
}

// ---------------------------------------------------------------------------------------------

export interface Census {
  /** Source account: the temporary snapshots and volumes the restores made, still there. */
  sourceSnapshots: Snapshot[];
  sourceVolumes: Volume[];
  /** Snapshots of the source account the target account may still use (shared and not withdrawn). */
  sharedWithTarget: Snapshot[];
  /** Target account: what the restores made there (instances not terminated, volumes not deleted). */
  targetInstances: Instance[];
  targetVolumes: Volume[];
}

/** What nothing-left-behind looks like, for toEqual. */
export const EMPTY_CENSUS: Census = {
  sourceSnapshots: [],
  sourceVolumes: [],
  sharedWithTarget: [],
  targetInstances: [],
  targetVolumes: [],
};

function byRestoreIds(ids: readonly string[]) {
  return [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [...ids] }];
}

/** Snapshots `ec2`'s account owns that carry one of the restore ids. */
export async function snapshotsOf(ec2: EC2Client, ids: readonly string[]): Promise<Snapshot[]> {
  const { Snapshots = [] } = await ec2.send(
    new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: byRestoreIds(ids) }),
  );
  return Snapshots;
}

/** Volumes (not being deleted) that carry one of the restore ids. */
export async function volumesOf(ec2: EC2Client, ids: readonly string[]): Promise<Volume[]> {
  const { Volumes = [] } = await ec2.send(new DescribeVolumesCommand({ Filters: byRestoreIds(ids) }));
  return Volumes.filter((v) => v.State !== 'deleting' && v.State !== 'deleted');
}

/** Instances (not terminated or shutting down) that carry one of the restore ids. */
export async function liveInstancesOf(ec2: EC2Client, ids: readonly string[]): Promise<Instance[]> {
  const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ Filters: byRestoreIds(ids) }));
  return Reservations.flatMap((r) => r.Instances ?? []).filter(
    (i) => i.State?.Name !== 'terminated' && i.State?.Name !== 'shutting-down',
  );
}

/** Everything tagged with one of the restore ids, in both accounts. */
export async function census(accounts: Accounts, ids: readonly string[]): Promise<Census> {
  const { source, target } = accounts;
  const { Snapshots: restorable = [] } =
    target === source
      ? { Snapshots: [] }
      : await target.aws.ec2.send(
          new DescribeSnapshotsCommand({ OwnerIds: [source.id], RestorableByUserIds: ['self'] }),
        );
  return {
    sourceSnapshots: await snapshotsOf(source.aws.ec2, ids),
    sourceVolumes: await volumesOf(source.aws.ec2, ids),
    sharedWithTarget: restorable,
    targetInstances: await liveInstancesOf(target.aws.ec2, ids),
    targetVolumes: await volumesOf(target.aws.ec2, ids),
  };
}

/**
 * For a file's tests: returns `openWorld`, and closes the world a test opened after that test
 * (afterEach, registered here).
 */
export function worldPerTest(): (options?: WorldOptions) => Promise<World> {
  const open: World[] = [];
  afterEach(async () => {
    for (const world of open.splice(0)) await world.close();
  });
  return async (options) => {
    const world = await openWorld(options);
    open.push(world);
    return world;
  };
}

/**
 * For tests that run at once (`describe.concurrent`): a world of the test's own, closed when that test
 * ends (worldPerTest's afterEach would close the others' worlds too).
 */
export async function openWorldOf(context: TestContext, options?: WorldOptions): Promise<World> {
  const world = await openWorld(options);
  context.onTestFinished(() => world.close());
  return world;
}

/**
 * The world of a pipeline e2e test: two fresh emulator accounts, a backup repository holding a
 * restore point made from generated raw images, real worker processes on a per-test queue prefix.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DescribeImagesCommand,
  DescribeSubnetsCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { type AwsClients, createAwsClients } from '@ec2-restore/aws-clients';
import {
  BLOCK_SIZE,
  openBackupRepository,
  type RestorePointSummary,
  readRawImage,
} from '@ec2-restore/backup-repository';
import type { RestoreRequestInput } from '@ec2-restore/contracts';
import { restoreRequestSchema } from '@ec2-restore/contracts';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { addRestoreFlow, stepNameOf } from '@ec2-restore/pipeline';
import { generatePolicies, type PolicyStatement } from '@ec2-restore/preflight';
import { type Restore, RestoreStore, terminalRestoreStatuses } from '@ec2-restore/restore-state';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const REGION = 'eu-west-1';
const GIB = 2 ** 30;
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Account {
  id: string;
  aws: AwsClients;
}

export function newAccount(): Account {
  const id = randomAccountId();
  return { id, aws: createAwsClients({ region: REGION, credentials: credentialsForAccount(id) }) };
}

/** What EBS needs of a key used by a principal of another account (docs/architecture.md#pre-flight-checks). */
const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
];

/** A customer managed key; `alsoAllow` (an account id or a principal ARN) may use it for EBS. */
export async function createKey(account: Account, alsoAllow?: string): Promise<string> {
  const statements: object[] = [
    {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account.id}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ];
  if (alsoAllow) {
    statements.push({
      Effect: 'Allow',
      Principal: { AWS: alsoAllow.startsWith('arn:') ? alsoAllow : `arn:aws:iam::${alsoAllow}:root` },
      Action: EBS_KEY_ACTIONS,
      Resource: '*',
    });
  }
  const { KeyMetadata } = await account.aws.kms.send(
    new CreateKeyCommand({ Policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }),
  );
  return KeyMetadata?.Arn ?? '';
}

/** Source account of another-account restores: a customer managed EBS default key the target may use. */
export async function useShareableDefaultKey(source: Account, targetAccountId: string): Promise<string> {
  const keyArn = await createKey(source, targetAccountId);
  await source.aws.ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: keyArn }));
  return keyArn;
}

/** An identity policy allowing all of EC2 and KMS (the emulator enforces identity policies). */
export const ALL_EC2_KMS_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['ec2:*', 'kms:*'], Resource: '*' }],
});

/**
 * A restore role in `target` that `sourceAccountId` may assume with `externalId`, with
 * `identityPolicy` as its IAM policy (default: all of EC2 and KMS).
 */
export async function createRestoreRole(
  target: Account,
  sourceAccountId: string,
  externalId: string,
  identityPolicy: string = ALL_EC2_KMS_POLICY,
) {
  const { Role } = await target.aws.iam.send(
    new CreateRoleCommand({
      RoleName: `Restore-${randomUUID().slice(0, 8)}`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${sourceAccountId}:root` },
            Action: 'sts:AssumeRole',
            Condition: { StringEquals: { 'sts:ExternalId': externalId } },
          },
        ],
      }),
    }),
  );
  await putRestoreRolePolicy(target, Role?.Arn ?? '', identityPolicy);
  return Role?.Arn ?? '';
}

async function putRestoreRolePolicy(target: Account, roleArn: string, document: string): Promise<void> {
  await target.aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: roleArn.split('/').at(-1) ?? '',
      PolicyName: 'ec2-restore',
      PolicyDocument: document,
    }),
  );
}

/**
 * Actions the restores make as the restore role that the policy generator does not grant yet
 * (the emulator refuses them: UnauthorizedOperation). Listed here so the restore tests keep proving
 * the rest of the generated policy; remove each once the generator grants it.
 */
const GENERATOR_GAPS: PolicyStatement[] = [
  {
    Sid: 'NotYetGenerated',
    Effect: 'Allow',
    // DescribeImages: the instance step picks the launch image; DeleteVolume: cleanup deletes the
    // launch root volume; DetachVolume, TerminateInstances: cleanup after a failed restore.
    Action: ['ec2:DeleteVolume', 'ec2:DescribeImages', 'ec2:DetachVolume', 'ec2:TerminateInstances'],
    Resource: '*',
  },
];

/**
 * The restore role's IAM policy as the product's policy generator writes it, for every data path
 * and KMS grant mode (a world serves restores of each): the restores then prove the generated
 * policy is enough.
 */
export function generatedRestoreRolePolicy(w: {
  source: Account;
  roleArn: string;
  externalId: string;
  targetKey: string;
  sourceDefaultKey: string;
}): string {
  const statements = new Map<string, PolicyStatement>();
  for (const dataPath of ['ebs-direct', 'worker-volume'] as const) {
    for (const kmsGrant of ['none', 'auto'] as const) {
      const generated = generatePolicies({
        mode: 'cross-account',
        region: REGION,
        dataPath,
        kmsGrant,
        // The tests run the workers with the source account's root credentials.
        workerRoleArn: `arn:aws:iam::${w.source.id}:root`,
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
    Statement: [...statements.values(), ...GENERATOR_GAPS],
  });
}

export async function defaultSubnet(account: Account): Promise<{ subnetId: string; zone: string }> {
  const { Subnets = [] } = await account.aws.ec2.send(new DescribeSubnetsCommand({}));
  const subnet = Subnets.find((s) => s.AvailabilityZone === `${REGION}a`) ?? Subnets[0];
  return { subnetId: subnet?.SubnetId ?? '', zone: subnet?.AvailabilityZone ?? '' };
}

/** An instance launched by hand (the worker instance of worker-volume, or an existing instance). */
export async function launchInstance(account: Account): Promise<string> {
  const { subnetId } = await defaultSubnet(account);
  const { Images = [] } = await account.aws.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
  const { Instances = [] } = await account.aws.ec2.send(
    new RunInstancesCommand({
      ImageId: Images[0]?.ImageId,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetId,
    }),
  );
  return Instances[0]?.InstanceId ?? '';
}

// ---------------------------------------------------------------------------------------------

export interface VolumeImage {
  deviceName: string;
  sizeGiB: number;
  /** Raw image file (sparse): a few random data blocks, the rest zeros. */
  path: string;
}

/** A sparse raw image of `sizeGiB` with `dataBlocks` random 512 KiB blocks at spread offsets. */
async function writeImage(path: string, sizeGiB: number, dataBlocks: number): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.truncate(sizeGiB * GIB);
    const blockCount = (sizeGiB * GIB) / BLOCK_SIZE;
    for (let i = 0; i < dataBlocks; i++) {
      const index = Math.floor(((i + 0.5) * blockCount) / dataBlocks);
      await file.write(randomBytes(BLOCK_SIZE), 0, BLOCK_SIZE, index * BLOCK_SIZE);
    }
  } finally {
    await file.close();
  }
}

/** The non-zero blocks of a raw image or device file: index and SHA-256 (zeros elsewhere). */
export async function dataBlocksOf(path: string): Promise<Array<[number, string]>> {
  const blocks: Array<[number, string]> = [];
  for await (const block of readRawImage(path)) {
    blocks.push([
      block.index,
      createHash('sha256')
        .update(block.data ?? Buffer.alloc(0))
        .digest('hex'),
    ]);
  }
  return blocks;
}

export interface Backup {
  folder: string;
  restorePoint: RestorePointSummary;
  images: VolumeImage[];
}

/**
 * A backup repository (folder) with one restore point of a 3-volume Linux instance, root /dev/xvda;
 * given the folder of another Backup, one more restore point in that repository.
 */
export async function createBackup(
  devices = ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'],
  inFolder?: string,
  recorded: {
    /** Boot and licensing attributes of the backed-up instance. */
    instance?: Partial<RestorePointSummary['instance']>;
    deleteOnTermination?: Record<string, boolean>;
  } = {},
): Promise<Backup> {
  const folder = inFolder ?? (await mkdtemp(join(tmpdir(), 'ec2r-pipeline-')));
  const repository = openBackupRepository(join(folder, 'repo'));
  const builder = repository.createRestorePoint({
    source: { kind: 'raw-images' },
    instance: {
      instanceType: 't3.micro',
      platform: 'linux',
      architecture: 'x86_64',
      rootDeviceName: devices[0] ?? '/dev/xvda',
      network: { securityGroupIds: [] },
      tags: { Name: 'backed-up' },
      ...recorded.instance,
    },
  });
  const images: VolumeImage[] = [];
  for (const [n, deviceName] of devices.entries()) {
    const path = join(folder, `${deviceName.replace('/dev/', '')}.img`);
    await writeImage(path, 1, 6 + n * 3);
    const keep = recorded.deleteOnTermination?.[deviceName];
    await builder.addVolume(
      {
        deviceName,
        sizeGiB: 1,
        volumeType: 'gp3',
        ...(keep === undefined ? {} : { deleteOnTermination: keep }),
      },
      readRawImage(path),
    );
    images.push({ deviceName, sizeGiB: 1, path });
  }
  const manifest = await builder.commit();
  return { folder, restorePoint: await repository.getSummary(manifest.id), images };
}

// ---------------------------------------------------------------------------------------------

export interface Pipeline {
  queuePrefix: string;
  statePrefix: string;
  redis: Redis;
  store: RestoreStore;
  flowProducer: FlowProducer;
  close(): Promise<void>;
}

export function openPipeline(): Pipeline {
  const queuePrefix = `t${randomUUID().slice(0, 8)}`;
  const statePrefix = `${queuePrefix}:state:`;
  const redis = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
  const store = new RestoreStore(redis, { prefix: statePrefix });
  const flowProducer = new FlowProducer({ connection: redis, prefix: queuePrefix });
  return {
    queuePrefix,
    statePrefix,
    redis,
    store,
    flowProducer,
    async close() {
      await flowProducer.close();
      await redis.quit();
    },
  };
}

/**
 * Stores a restore and adds its flow, as the API does after the pre-flight checks passed
 * (the API e2e tests drive the same through HTTP).
 */
export async function startRestore(
  pipeline: Pipeline,
  input: RestoreRequestInput,
  context: { restorePoint: RestorePointSummary; sourceAccountId: string },
): Promise<string> {
  const request = restoreRequestSchema.parse(input);
  const mode = request.target.accountId === context.sourceAccountId ? 'same-account' : 'cross-account';
  const id = randomUUID();
  const restore = { id, mode, request } as const;
  const volumes = context.restorePoint.volumes.filter(
    (v) => !request.volumes || request.volumes.includes(v.deviceName),
  );
  await pipeline.store.create({
    id,
    mode,
    request,
    steps: [
      ...volumes.map((v) => stepNameOf({ name: 'snapshot', data: { volume: v } })),
      ...(mode === 'cross-account' ? ['share'] : []),
      'instance',
      'cleanup',
    ],
    volumes: volumes.map((v) => ({ deviceName: v.deviceName, bytesTotal: v.sizeGiB * GIB })),
  });
  await addRestoreFlow(pipeline.flowProducer, restore, context, { backoffMs: 500 });
  return id;
}

export async function waitForEnd(store: RestoreStore, id: string, timeoutMs = 150_000): Promise<Restore> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const restore = await store.get(id);
    if (restore && terminalRestoreStatuses.includes(restore.status)) return restore;
    if (Date.now() > deadline) {
      throw new Error(
        `restore ${id} did not end within ${timeoutMs} ms: ${JSON.stringify(restore, null, 1)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// ---------------------------------------------------------------------------------------------

export type WorkerName = 'snapshot-worker' | 'share-worker' | 'instance-worker';

export interface WorkerProcess {
  name: WorkerName;
  child: ChildProcess;
  /** Everything it logged (JSON lines), for failure messages. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts a worker service as its own process, as an operator would (`node --import tsx .../main.ts`). */
export function startWorker(name: WorkerName, env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join('services', name, 'src', 'main.ts')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The environment of the worker processes: worker role = root of the source account. */
export function workerEnv(
  pipeline: Pipeline,
  source: Account,
  backup: Backup,
  extra: Record<string, string> = {},
): Record<string, string> {
  const credentials = credentialsForAccount(source.id);
  return {
    REDIS_URL: process.env.REDIS_URL ?? '',
    AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL ?? '',
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    BACKUP_REPOSITORY: join(backup.folder, 'repo'),
    QUEUE_PREFIX: pipeline.queuePrefix,
    STATE_PREFIX: pipeline.statePrefix,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

export async function removeBackup(backup: Backup | undefined): Promise<void> {
  if (backup) await rm(backup.folder, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

export interface CrossAccountWorld {
  source: Account;
  target: Account;
  roleArn: string;
  externalId: string;
  /** The target key, in the target account. */
  targetKey: string;
  /** The source default key: customer managed, usable by the target account. */
  sourceDefaultKey: string;
  targetSubnetId: string;
}

/** Two fresh accounts set up as docs/architecture.md#the-two-flows requires for a restore into another account. */
export async function crossAccountWorld(): Promise<CrossAccountWorld> {
  const source = newAccount();
  const target = newAccount();
  const externalId = `ext-${randomUUID()}`;
  const roleArn = await createRestoreRole(target, source.id, externalId);
  const world = {
    source,
    target,
    externalId,
    roleArn,
    // The target key's policy names the restore role (docs/architecture.md#pre-flight-checks: it creates the volumes).
    targetKey: await createKey(target, roleArn),
    sourceDefaultKey: await useShareableDefaultKey(source, target.id),
    targetSubnetId: (await defaultSubnet(target)).subnetId,
  };
  await putRestoreRolePolicy(target, roleArn, generatedRestoreRolePolicy(world));
  return world;
}

/** Waits until a job of a queue completed and returns its result (throws with the workers' logs on failure). */
export async function jobResult(
  pipeline: Pipeline,
  queueName: string,
  jobId: string,
  workers: WorkerProcess[],
  timeoutMs = 400_000,
): Promise<unknown> {
  const queue = new Queue(queueName, { connection: pipeline.redis, prefix: pipeline.queuePrefix });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await queue.getJob(jobId);
      if (job && (await job.isCompleted())) return job.returnvalue;
      if (job && (await job.isFailed())) {
        throw new Error(`${jobId} failed: ${job.failedReason}\n${workers.map((w) => w.output()).join('\n')}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${jobId} did not complete\n${workers.map((w) => w.output()).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await queue.close();
  }
}

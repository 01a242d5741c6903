import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import { DescribeInstancesCommand, RegisterImageCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  BLOCK_SIZE,
  blockKey,
  FolderObjectStore,
  GIB,
  openBackupRepository,
  sha256Hex,
} from '@ec2-restore/backup-repository';
import { credentialsForAccount, onceVisible } from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockOfFile,
  newAccount,
  putBlock,
  SDK_RETRIES,
  sparseImage,
  startVisibleSnapshot,
  tempDir,
} from '../support/index.ts';

// Each run starts a Node process with tsx: seconds each on a busy machine.
const SLOW = 300_000;
const root = fileURLToPath(new URL('../..', import.meta.url));

/** How `pnpm backup` starts the operator CLI. */
const CLI = ['--import', 'tsx', 'packages/backup-repository/src/cli.ts'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the operator CLI as a person would (`pnpm backup …` runs exactly this). */
async function backup(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...CLI, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The environment of a CLI run with the credentials of an emulator account (its snapshots and instances). */
function accountEnv(accountId: string): NodeJS.ProcessEnv {
  const credentials = credentialsForAccount(accountId);
  return { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey };
}

function backupAs(accountId: string, args: string[]): Promise<Run> {
  return backup(args, accountEnv(accountId));
}

/** Starts the CLI as `accountId`: `stderrShows(text)` resolves once its stderr holds `text`, `done` at its exit. */
function startBackupAs(accountId: string, args: string[]) {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: root,
    env: { ...process.env, ...accountEnv(accountId) },
  });
  const run: Run = { code: -1, stdout: '', stderr: '' };
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => {
    run.stderr += chunk;
    for (const check of waiters) check();
  });
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => resolve({ ...run, code: code ?? -1 })),
  );
  const stderrShows = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => run.stderr.includes(text) && resolve();
      waiters.push(check);
      check();
      void done.then((end) =>
        reject(new Error(`the CLI ended (${end.code}) without printing '${text}': ${end.stderr}`)),
      );
    });
  return { stderrShows, done };
}

describe('ec2-restore-backup CLI', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let repo: string;
  let image: string;

  beforeAll(async () => {
    work = await tempDir();
    repo = join(work.path, 'repo');
    // 1 GiB + 1 byte of image, 3 blocks of data: a 2 GiB volume.
    image = await sparseImage(join(work.path, 'root.img'), GIB + 1, [
      { index: 0 },
      { index: 100 },
      { index: 2047 },
    ]);
  });
  /** `create --snapshot <device>=<snapshot-id> <options> --id <id> --json` as the account: the restore point made. */
  async function createFromSnapshot(accountId: string, id: string, snapshot: string, options: string[]) {
    const created = await backupAs(accountId, [
      'create',
      '--repository',
      repo,
      '--snapshot',
      snapshot,
      ...options,
      '--id',
      id,
      '--json',
    ]);
    expect(created.stderr).not.toMatch(/error/);
    return JSON.parse(created.stdout) as unknown;
  }

  afterAll(async () => work.remove());

  /** `create` of restore point `id` from one snapshot as /dev/xvdf (t3.micro). */
  const createArgs = (snapshotId: string, id: string) => [
    'create',
    '--repository',
    repo,
    '--snapshot',
    `/dev/xvdf=${snapshotId}`,
    '--instance-type',
    't3.micro',
    '--id',
    id,
  ];

  it(
    'creates a restore point from a sparse raw image, lists it and verifies it',
    async () => {
      const created = await backup([
        'create',
        '--repository',
        repo,
        '--volume',
        `/dev/xvda=${image},type=gp3,iops=3000,delete-on-termination=false`,
        '--instance-type',
        'm6i.large',
        '--boot-mode',
        'uefi',
        '--ena-support',
        'true',
        '--imds',
        'required',
        '--usage-operation',
        'RunInstances',
        '--subnet-id',
        'subnet-0abc1234',
        '--security-group-id',
        'sg-0abc1234',
        '--tag',
        'Name=web-1',
        '--id',
        'rp-cli-1',
        '--json',
      ]);
      expect(created.stderr).not.toMatch(/error/);
      expect(created.code).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({
        id: 'rp-cli-1',
        instance: {
          instanceType: 'm6i.large',
          rootDeviceName: '/dev/xvda',
          tags: { Name: 'web-1' },
          bootMode: 'uefi',
          enaSupport: true,
          imdsHttpTokens: 'required',
          billing: { usageOperation: 'RunInstances' },
        },
        volumes: [
          {
            deviceName: '/dev/xvda',
            sizeGiB: 2,
            volumeType: 'gp3',
            iops: 3000,
            root: true,
            deleteOnTermination: false,
          },
        ],
        dataBytes: 3 * BLOCK_SIZE,
      });

      const listed = await backup(['list', '--json'], { BACKUP_REPOSITORY: repo });
      expect(JSON.parse(listed.stdout).map((p: { id: string }) => p.id)).toEqual(['rp-cli-1']);

      const verified = await backup(['verify', 'rp-cli-1', '--repository', repo]);
      expect(verified).toMatchObject({ code: 0, stdout: expect.stringContaining('is intact') });

      const data = await blockOfFile(image, 100);
      await new FolderObjectStore(repo).put(blockKey(sha256Hex(data)), randomBytes(BLOCK_SIZE));
      const damaged = await backup(['verify', 'rp-cli-1', '--repository', repo, '--json']);
      expect(damaged.code).toBe(1);
      const report = JSON.parse(damaged.stdout);
      expect(report.ok).toBe(false);
      expect(report.volumes[0].problems[0]).toContain(
        `volume /dev/xvda, block 100 (expected SHA-256 ${sha256Hex(data)})`,
      );
    },
    SLOW,
  );

  it(
    'names the option and the fix on a usage error',
    async () => {
      const noRepo = await backup(['list'], { BACKUP_REPOSITORY: '' });
      expect(noRepo.code).toBe(2);
      expect(noRepo.stderr).toMatch(/--repository .* or set BACKUP_REPOSITORY/);

      const noType = await backup(['create', '--repository', repo, '--volume', `/dev/xvda=${image}`]);
      expect(noType).toMatchObject({ code: 2, stderr: expect.stringMatching(/--instance-type/) });

      // A wrong attribute option is named with what it expects.
      for (const [option, value] of [
        ['--architecture', 'sparc'],
        ['--boot-mode', 'bios'],
      ]) {
        const run = await backup(
          ['create', '--repository', repo, '--volume', `/dev/xvda=${image}`].concat([
            '--instance-type',
            't3.micro',
            option as string,
            value as string,
          ]),
        );
        expect(run).toMatchObject({ code: 2, stderr: expect.stringContaining(`${option}: `) });
      }

      const missing = await backup(['show', 'rp-nope', '--repository', repo]);
      expect(missing).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/'rp-nope' does not exist.*pnpm backup list/),
      });
    },
    SLOW,
  );

  it(
    'creates a restore point from an EBS snapshot through the EBS direct APIs',
    async () => {
      const { id: accountId, aws } = newAccount(SDK_RETRIES);
      const blocks = new Map([
        [2, randomBytes(BLOCK_SIZE)],
        [5, randomBytes(BLOCK_SIZE)],
        [9, Buffer.alloc(BLOCK_SIZE)], // a written block of zeros is still a zero block in the repository
      ]);
      const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
      for (const [index, data] of blocks) await putBlock(aws.ebs, snapshotId, index, data);
      await aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: 3 }));
      aws.destroy();

      const created = await createFromSnapshot(accountId, 'rp-from-snapshot', `/dev/xvdf=${snapshotId}`, [
        '--instance-type',
        't3.micro',
      ]);
      expect(created).toMatchObject({
        id: 'rp-from-snapshot',
        volumes: [{ deviceName: '/dev/xvdf', sizeGiB: 1 }],
        dataBytes: 2 * BLOCK_SIZE,
      });

      const reader = await openBackupRepository(repo).openVolume('rp-from-snapshot', '/dev/xvdf');
      const stored = new Map<number, string>();
      for await (const ref of reader.blocks()) if (ref.sha256) stored.set(ref.index, ref.sha256);
      expect(stored).toEqual(
        new Map([
          [2, sha256Hex(blocks.get(2)!)],
          [5, sha256Hex(blocks.get(5)!)],
        ]),
      );
    },
    SLOW,
  );
  it(
    'reads the boot and licensing attributes of the backed-up instance from EC2 (--from-instance)',
    async () => {
      const { id: accountId, aws } = newAccount(SDK_RETRIES);
      const started = { SnapshotId: await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 }) };
      await aws.ebs.send(
        new CompleteSnapshotCommand({ SnapshotId: started.SnapshotId, ChangedBlocksCount: 0 }),
      );
      const { ImageId } = await onceVisible(() =>
        aws.ec2.send(
          new RegisterImageCommand({
            Name: `rp-cli-image-${accountId}`,
            Architecture: 'arm64',
            BootMode: 'uefi',
            EnaSupport: true,
            VirtualizationType: 'hvm',
            RootDeviceName: '/dev/xvda',
            BlockDeviceMappings: [
              {
                DeviceName: '/dev/xvda',
                Ebs: { SnapshotId: started.SnapshotId, DeleteOnTermination: false },
              },
            ],
          }),
        ),
      );
      const { Instances = [] } = await onceVisible(() =>
        aws.ec2.send(
          new RunInstancesCommand({
            ImageId,
            InstanceType: 'm7g.medium',
            MinCount: 1,
            MaxCount: 1,
            MetadataOptions: { HttpTokens: 'required' },
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'graviton-1' }] }],
          }),
        ),
      );
      const instanceId = Instances[0]?.InstanceId ?? '';
      await onceVisible(() => aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
      aws.destroy();

      const created = await createFromSnapshot(
        accountId,
        'rp-from-instance',
        `/dev/xvda=${started.SnapshotId}`,
        ['--from-instance', instanceId],
      );
      expect(created).toMatchObject({
        id: 'rp-from-instance',
        instance: {
          instanceType: 'm7g.medium',
          architecture: 'arm64',
          platform: 'linux',
          rootDeviceName: '/dev/xvda',
          bootMode: 'uefi',
          enaSupport: true,
          imdsHttpTokens: 'required',
          billing: { platformDetails: 'Linux/UNIX', usageOperation: 'RunInstances' },
          tags: { Name: 'graviton-1' },
        },
        volumes: [{ deviceName: '/dev/xvda', root: true }],
      });
    },
    SLOW,
  );

  it(
    'waits for a snapshot still being taken, then creates the restore point once it completed',
    async () => {
      // EBS direct reads only completed snapshots (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html).
      const { id: accountId, aws } = newAccount(SDK_RETRIES);
      const data = randomBytes(BLOCK_SIZE);
      const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
      const cli = startBackupAs(accountId, createArgs(snapshotId, 'rp-from-pending-snapshot'));
      await cli.stderrShows(`waiting for snapshot ${snapshotId} to complete (pending`);
      // Written and sealed while the CLI waits; EC2 says `pending` a while longer (the emulator's completing time).
      await putBlock(aws.ebs, snapshotId, 4, data);
      await aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: 1 }));
      aws.destroy();

      const run = await cli.done;
      expect(run, run.stderr).toMatchObject({ code: 0 });
      const reader = await openBackupRepository(repo).openVolume('rp-from-pending-snapshot', '/dev/xvdf');
      const stored = new Map<number, string>();
      for await (const ref of reader.blocks()) if (ref.sha256) stored.set(ref.index, ref.sha256);
      expect(stored).toEqual(new Map([[4, sha256Hex(data)]]));
    },
    SLOW,
  );

  it(
    'fails naming the snapshot and its state when the snapshot ended in error, and creates no restore point',
    async () => {
      const { id: accountId, aws } = newAccount(SDK_RETRIES);
      const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
      await putBlock(aws.ebs, snapshotId, 4, randomBytes(BLOCK_SIZE));
      // A ChangedBlocksCount that does not match the blocks written: EBS fails the snapshot.
      await aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: 2 }));
      aws.destroy();

      const run = await backupAs(accountId, createArgs(snapshotId, 'rp-from-failed-snapshot'));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `error: Snapshot ${snapshotId} is error; the EBS direct APIs read only completed snapshots.`,
      );
      const shown = await backup(['show', 'rp-from-failed-snapshot', '--repository', repo]);
      expect(shown.stderr).toMatch(/'rp-from-failed-snapshot' does not exist/);
    },
    SLOW,
  );
});

import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import {
  type BackupRepository,
  BLOCK_SIZE,
  openBackupRepository,
  readRawImage,
  sha256Hex,
} from '@ec2-restore/backup-repository';
import { RestoreTag, type SnapshotJobInput } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { createStepClients, PermanentStepError, writeVolumeSnapshot } from '@ec2-restore/pipeline';
import { EbsDirectWriter } from '@ec2-restore/snapshot-writers';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Account,
  type Backup,
  createBackup,
  createKey,
  defaultSubnet,
  launchInstance,
  newAccount,
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

const GIB = 2 ** 30;
const DEVICES = ['/dev/xvda', '/dev/xvdb'];
/** Blocks of /dev/xvdb changed after its data was written, deliberately not in ascending order. */
const CHANGED_BLOCKS = [900, 5, 17];

/**
 * Changes blocks of one volume of a restore point in place, as a backup tool rewriting a restore
 * point would: new data at `blocks` (from a copy of the volume's image), the manifest pointing at the
 * new block list. Returns the SHA-256 each changed block has now.
 */
async function changeRestorePointBlocks(
  backup: Backup,
  deviceName: string,
  blocks: number[],
): Promise<Map<number, string>> {
  const repository = openBackupRepository(join(backup.folder, 'repo'));
  const image = backup.images.find((i) => i.deviceName === deviceName)!;
  const changedImage = `${image.path}.changed`;
  await copyFile(image.path, changedImage);
  const hashes = new Map<number, string>();
  const file = await open(changedImage, 'r+');
  try {
    for (const index of blocks) {
      const data = randomBytes(BLOCK_SIZE);
      await file.write(data, 0, BLOCK_SIZE, index * BLOCK_SIZE);
      hashes.set(index, sha256Hex(data));
    }
  } finally {
    await file.close();
  }
  const manifest = await repository.getManifest(backup.restorePoint.id);
  // A restore point holding only the changed volume (so that volume is its root), for its block list.
  const builder = repository.createRestorePoint({
    source: manifest.source,
    instance: { ...manifest.instance, rootDeviceName: deviceName },
  });
  const volume = manifest.volumes.find((v) => v.deviceName === deviceName)!;
  await builder.addVolume(
    { deviceName, sizeGiB: volume.sizeGiB, volumeType: volume.volumeType },
    readRawImage(changedImage),
  );
  const changed = await builder.commit();
  const rewritten = {
    ...manifest,
    volumes: manifest.volumes.map((v) => (v.deviceName === deviceName ? changed.volumes[0]! : v)),
  };
  await storeOf(repository).put(
    `restore-points/${backup.restorePoint.id}/manifest.json`,
    Buffer.from(JSON.stringify(rewritten, null, 2)),
  );
  await rm(changedImage);
  return hashes;
}

function storeOf(repository: BackupRepository) {
  return repository.store as unknown as { put(key: string, data: Buffer): Promise<void> };
}

async function snapshotsOf(account: Account, restoreId: string) {
  const { Snapshots = [] } = await account.aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [restoreId] }],
    }),
  );
  return Snapshots;
}

const listenerWarning = /MaxListenersExceededWarning/;

describe('verified restores: every block read back before the instance is built', () => {
  let pipeline: Pipeline | undefined;
  let backup: Backup | undefined;
  let deviceDir: string | undefined;
  const accounts: Account[] = [];
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await pipeline?.close();
    pipeline = undefined;
    for (const account of accounts.splice(0)) account.aws.destroy();
    await removeBackup(backup);
    backup = undefined;
    if (deviceDir) await rm(deviceDir, { recursive: true, force: true });
    deviceDir = undefined;
  });

  it('ebs-direct, good restore point: succeeds; each volume went through the verify phase; bytes verified counted', {
    timeout: 900_000,
  }, async () => {
    backup = await createBackup(DEVICES);
    pipeline = openPipeline();
    const source = newAccount();
    accounts.push(source);
    const targetKey = await createKey(source);
    const env = workerEnv(pipeline, source, backup);
    workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));
    const before = (await pipeline.store.readMetrics()).bytesVerified;

    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: source.id, region: REGION, kmsKeyId: targetKey },
        instance: { subnetId: (await defaultSubnet(source)).subnetId },
        verify: true,
      },
      { restorePoint: backup.restorePoint, sourceAccountId: source.id },
    );
    const restore = await waitForEnd(pipeline.store, id, 800_000);
    const output = workers.map((w) => w.output()).join('\n');
    expect(restore.status, output).toBe('succeeded');
    expect(restore.request).toMatchObject({ verify: true });
    expect(restore.progress.volumes).toEqual(
      DEVICES.map((deviceName) => ({
        deviceName,
        bytesTotal: GIB,
        bytesDone: GIB,
        phase: 'verify',
        bytesVerified: GIB,
      })),
    );
    expect((await pipeline.store.readMetrics()).bytesVerified - before).toBe(DEVICES.length * GIB);
    expect(output).toMatch(/step succeeded/);
    expect(output).not.toMatch(listenerWarning);
  });

  it('ebs-direct, blocks changed after the snapshot was written: fails naming the blocks, cleanup removes the snapshots', {
    timeout: 900_000,
  }, async () => {
    backup = await createBackup(DEVICES);
    pipeline = openPipeline();
    const source = newAccount();
    accounts.push(source);
    const targetKey = await createKey(source);
    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: source.id, region: REGION, kmsKeyId: targetKey },
        instance: { subnetId: (await defaultSubnet(source)).subnetId },
        verify: true,
      },
      { restorePoint: backup.restorePoint, sourceAccountId: source.id },
    );
    // The snapshot of /dev/xvdb is written as the snapshot step writes it (same restore, step and device
    // tags), as if a worker had written it and stopped before its read-back; then the restore point
    // changes. The worker that takes the job over keeps the completed snapshot and reads it back.
    const repository = openBackupRepository(join(backup.folder, 'repo'));
    const written = await new EbsDirectWriter({
      repository,
      ebs: source.aws.ebs,
      ec2: source.aws.ec2,
      completionPollMs: 200,
    }).writeVolume({
      restorePointId: backup.restorePoint.id,
      deviceName: '/dev/xvdb',
      target: { restoreId: id, step: 'snapshot', kmsKeyArn: targetKey },
    });
    const originalReader = await repository.openVolume(backup.restorePoint.id, '/dev/xvdb');
    const original = new Map<number, string | null>();
    for await (const ref of originalReader.blocks()) original.set(ref.index, ref.sha256);
    const changed = await changeRestorePointBlocks(backup, '/dev/xvdb', CHANGED_BLOCKS);

    const env = workerEnv(pipeline, source, backup);
    workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));
    const restore = await waitForEnd(pipeline.store, id, 800_000);
    const output = workers.map((w) => w.output()).join('\n');
    expect(restore.status, output).toBe('failed');
    expect(restore.error).toMatchObject({
      code: 'verification_failed',
      step: 'snapshot:/dev/xvdb',
      verification: {
        deviceName: '/dev/xvdb',
        resourceId: written.snapshotId,
        restorePointId: backup.restorePoint.id,
        blocksChecked: 2048,
        mismatchCount: CHANGED_BLOCKS.length,
      },
    });
    const zero = sha256Hex(Buffer.alloc(BLOCK_SIZE));
    expect(restore.error?.verification?.mismatches).toEqual(
      [...CHANGED_BLOCKS]
        .sort((a, b) => a - b)
        .map((blockIndex) => ({
          blockIndex,
          expectedSha256: changed.get(blockIndex),
          actualSha256: original.get(blockIndex) ?? zero,
        })),
    );
    expect(restore.error?.message).toMatch(/block 5 \(expected SHA-256 [0-9a-f]{64}, found [0-9a-f]{64}\)/);
    // No instance was built, and the cleanup deleted every snapshot of the restore.
    const { Reservations = [] } = await source.aws.ec2.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [id] }],
      }),
    );
    expect(Reservations.flatMap((r) => r.Instances ?? [])).toEqual([]);
    const deadline = Date.now() + 60_000;
    while ((await snapshotsOf(source, id)).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(await snapshotsOf(source, id)).toEqual([]);
    expect(output).not.toMatch(listenerWarning);
  });

  it('worker-volume, good restore point: succeeds through the verify phase', {
    timeout: 900_000,
  }, async () => {
    backup = await createBackup(DEVICES);
    pipeline = openPipeline();
    const source = newAccount();
    accounts.push(source);
    const targetKey = await createKey(source);
    const workerInstanceId = await launchInstance(source);
    deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
    const env = workerEnv(pipeline, source, backup, {
      WORKER_INSTANCE_ID: workerInstanceId,
      WORKER_DEVICE_DIR: deviceDir,
    });
    workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));
    const id = await startRestore(
      pipeline,
      {
        restorePointId: backup.restorePoint.id,
        target: { accountId: source.id, region: REGION, kmsKeyId: targetKey },
        instance: { subnetId: (await defaultSubnet(source)).subnetId },
        dataPath: 'worker-volume',
        verify: true,
      },
      { restorePoint: backup.restorePoint, sourceAccountId: source.id },
    );
    const restore = await waitForEnd(pipeline.store, id, 800_000);
    const output = workers.map((w) => w.output()).join('\n');
    expect(restore.status, output).toBe('succeeded');
    for (const volume of restore.progress.volumes) {
      expect(volume).toMatchObject({ phase: 'verify', bytesVerified: GIB, bytesDone: GIB });
    }
    expect(output).not.toMatch(listenerWarning);
  });

  it('worker-volume, blocks changed after the volume was written: the snapshot step fails naming the blocks, before any snapshot', {
    timeout: 600_000,
  }, async () => {
    backup = await createBackup(['/dev/xvda']);
    const source = newAccount();
    accounts.push(source);
    const targetKey = await createKey(source);
    const workerInstanceId = await launchInstance(source);
    deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
    const clients = createStepClients({ credentials: credentialsForAccount(source.id) });
    const restoreId = `verify-${randomBytes(4).toString('hex')}`;
    const input: SnapshotJobInput = {
      restoreId,
      mode: 'same-account',
      region: REGION,
      sourceAccountId: source.id,
      targetAccountId: source.id,
      restorePointId: backup.restorePoint.id,
      targetKmsKeyId: targetKey,
      dataPath: 'worker-volume',
      volume: { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3' },
      verify: true,
      transferKey: false,
    };
    const phases: string[] = [];
    let changed: Map<number, string> | undefined;
    const failure = await writeVolumeSnapshot(input, {
      clients,
      repository: openBackupRepository(join(backup.folder, 'repo')),
      workerInstanceId,
      deviceFolder: deviceDir,
      checkpoint: async () => {},
      // The step announces the verify phase once the volume is written and synced: the restore point
      // changes right then, before the read-back starts.
      progress: async (bytesDone, _total, phase = 'write') => {
        if (phases.at(-1) !== phase) phases.push(phase);
        if (phase === 'verify' && bytesDone === 0 && changed === undefined) {
          changed = await changeRestorePointBlocks(backup!, '/dev/xvda', CHANGED_BLOCKS);
        }
      },
    }).then(
      () => null,
      (error: unknown) => error,
    );
    clients.destroy();

    expect(phases).toEqual(['write', 'verify']);
    expect(failure).toBeInstanceOf(PermanentStepError);
    const error = failure as PermanentStepError;
    expect(error.code).toBe('verification_failed');
    expect(error.verification).toMatchObject({
      deviceName: '/dev/xvda',
      restorePointId: backup.restorePoint.id,
      blocksChecked: 2048,
      mismatchCount: CHANGED_BLOCKS.length,
    });
    expect(error.verification?.resourceId).toMatch(/^vol-/);
    expect(error.verification?.mismatches.map((m) => [m.blockIndex, m.expectedSha256])).toEqual(
      [...CHANGED_BLOCKS].sort((a, b) => a - b).map((index) => [index, changed?.get(index)]),
    );
    // The data never became a snapshot.
    expect(await snapshotsOf(source, restoreId)).toEqual([]);
  });
});

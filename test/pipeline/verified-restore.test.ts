import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import {
  type BackupRepository,
  BLOCK_SIZE,
  openBackupRepository,
  sha256Hex,
} from '@ec2-restore/backup-repository';
import { RestoreTag, type SnapshotJobInput } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { createStepClients, PermanentStepError, writeVolumeSnapshot } from '@ec2-restore/pipeline';
import { EbsDirectWriter } from '@ec2-restore/snapshot-writers';
import { describe, expect, it } from 'vitest';
import {
  type Backup,
  GIB,
  knownBlocksOf,
  openWorldOf,
  REGION,
  snapshotsOf,
  sparseCopy,
  type World,
} from '../support/index.ts';

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
  const repository = openBackupRepository(backup.repositoryPath);
  const image = backup.images.find((i) => i.deviceName === deviceName)!;
  const changedImage = `${image.path}.changed`;
  await sparseCopy(image, changedImage);
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
    knownBlocksOf(changedImage, [...image.dataBlocks, ...blocks]),
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

const listenerWarning = /MaxListenersExceededWarning/;

// The tests run at once: each restore waits on its worker processes and the emulator most of the time.
describe.concurrent('verified restores: every block read back before the instance is built', {
  timeout: 900_000,
}, () => {
  /** Runs a verified restore to its end with the snapshot and instance workers. */
  async function verifiedRestore(world: World, dataPath: 'ebs-direct' | 'worker-volume') {
    world.startWorkers(['snapshot-worker', 'instance-worker']);
    const id = await world.startRestore(world.request({ dataPath, verify: true }));
    const restore = await world.waitForEnd(id, 800_000);
    expect(restore.status, world.output()).toBe('succeeded');
    expect(world.output()).not.toMatch(listenerWarning);
    return restore;
  }

  it('ebs-direct, good restore point: succeeds; each volume went through the verify phase; bytes verified counted', async (context) => {
    const w = await openWorldOf(context, { devices: DEVICES });
    const before = (await w.pipeline.store.readMetrics()).bytesVerified;
    const restore = await verifiedRestore(w, 'ebs-direct');
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
    expect((await w.pipeline.store.readMetrics()).bytesVerified - before).toBe(DEVICES.length * GIB);
    expect(w.output()).toMatch(/step succeeded/);
  });

  it('ebs-direct, blocks changed after the snapshot was written: fails naming the blocks, cleanup removes the snapshots', async (context) => {
    const w = await openWorldOf(context, { devices: DEVICES });
    const { source, targetKey, backup } = w;
    const id = await w.startRestore(w.request({ verify: true }));
    // The snapshot of /dev/xvdb is written as the snapshot step writes it (same restore, step and device
    // tags), as if a worker had written it and stopped before its read-back; then the restore point
    // changes. The worker that takes the job over keeps the completed snapshot and reads it back.
    const repository = openBackupRepository(backup.repositoryPath);
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

    w.startWorkers(['snapshot-worker', 'instance-worker']);
    const restore = await w.waitForEnd(id, 800_000);
    const output = w.output();
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
      new DescribeInstancesCommand({ Filters: [{ Name: `tag:${RestoreTag.RestoreId}`, Values: [id] }] }),
    );
    expect(Reservations.flatMap((r) => r.Instances ?? [])).toEqual([]);
    // expect.poll of a test running at once with others: the test's own expect.
    await context.expect
      .poll(() => snapshotsOf(source.aws.ec2, [id]), { timeout: 60_000, interval: 250 })
      .toEqual([]);
    expect(output).not.toMatch(listenerWarning);
  });

  it('worker-volume, good restore point: succeeds through the verify phase', async (context) => {
    const w = await openWorldOf(context, { devices: DEVICES, workerInstance: true });
    const restore = await verifiedRestore(w, 'worker-volume');
    for (const volume of restore.progress.volumes) {
      expect(volume).toMatchObject({ phase: 'verify', bytesVerified: GIB, bytesDone: GIB });
    }
  });

  it('worker-volume, blocks changed after the volume was written: the snapshot step fails naming the blocks, before any snapshot', async (context) => {
    const w = await openWorldOf(context, { devices: ['/dev/xvda'], workerInstance: true });
    const { source, targetKey, backup, workerInstanceId = '', deviceDir = '' } = w;
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
      repository: openBackupRepository(backup.repositoryPath),
      workerInstanceId,
      deviceFolder: deviceDir,
      checkpoint: async () => {},
      // The step announces the verify phase once the volume is written and synced: the restore point
      // changes right then, before the read-back starts.
      progress: async (bytesDone, _total, phase = 'write') => {
        if (phases.at(-1) !== phase) phases.push(phase);
        if (phase === 'verify' && bytesDone === 0 && changed === undefined) {
          changed = await changeRestorePointBlocks(backup, '/dev/xvda', CHANGED_BLOCKS);
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
    expect(await snapshotsOf(source.aws.ec2, [restoreId])).toEqual([]);
  });
});

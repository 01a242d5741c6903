/**
 * Backups for tests: sparse raw images (a few random 512 KiB blocks, zeros elsewhere), a backup
 * repository in a temporary folder holding a restore point made from them, and ways to read files
 * back block by block.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BackupRepository,
  BLOCK_SIZE,
  BlockIntegrityError,
  type InstanceMetadataInput,
  openBackupRepository,
  type RestorePointSummary,
  readRawImage,
} from '@ec2-restore/backup-repository';
import { afterAll, beforeAll, expect } from 'vitest';

export const GIB = 2 ** 30;

/** Instance metadata of a backed-up Linux instance, root /dev/xvda. */
export const INSTANCE: InstanceMetadataInput = {
  instanceType: 't3.micro',
  platform: 'linux',
  architecture: 'x86_64',
  rootDeviceName: '/dev/xvda',
  network: { subnetId: 'subnet-12345678', securityGroupIds: ['sg-12345678'] },
  tags: { Name: 'web-1' },
};

export async function tempDir(prefix = 'ec2r-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A sparse raw disk image: `sizeBytes` long, holes everywhere except the given blocks, each filled with
 * random bytes (or the given bytes). Returns the path.
 */
export async function sparseImage(
  path: string,
  sizeBytes: number,
  dataBlocks: { index: number; data?: Buffer }[],
): Promise<string> {
  const handle = await open(path, 'w');
  try {
    await handle.truncate(sizeBytes);
    for (const block of dataBlocks) {
      const data = block.data ?? randomBytes(BLOCK_SIZE);
      await handle.write(data, 0, data.length, block.index * BLOCK_SIZE);
    }
  } finally {
    await handle.close();
  }
  return path;
}

/** `count` block indexes spread evenly over a volume of `blockCount` blocks. */
export function spreadBlocks(blockCount: number, count: number): { index: number }[] {
  return Array.from({ length: count }, (_, i) => ({ index: Math.floor(((i + 0.5) * blockCount) / count) }));
}

/** SHA-256 of a file's first `length` bytes, zero-padded to `length` when the file is shorter. */
export async function sha256OfFile(path: string, length: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  const buffer = Buffer.alloc(8 * BLOCK_SIZE);
  try {
    for (let offset = 0; offset < length; offset += buffer.length) {
      const want = Math.min(buffer.length, length - offset);
      buffer.fill(0, 0, want);
      await handle.read(buffer, 0, want, offset);
      hash.update(buffer.subarray(0, want));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** The bytes of one block of a file (zeros past its end). */
export async function blockOfFile(path: string, index: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(BLOCK_SIZE);
    await handle.read(buffer, 0, BLOCK_SIZE, index * BLOCK_SIZE);
    return buffer;
  } finally {
    await handle.close();
  }
}

/**
 * What readRawImage yields for a sparse image whose data blocks are known (`indexes`; holes elsewhere),
 * read block by block instead of through its holes: the first read of a 1 GiB hole fills 1 GiB of page
 * cache with zeros (0.5-2 s of kernel CPU on this machine), and set-up makes a few hundred of them per
 * CI run. For images made here (random data blocks, never all zeros).
 */
export async function* knownBlocksOf(
  path: string,
  indexes: number[],
): AsyncGenerator<{ index: number; data: Buffer }> {
  for (const index of [...new Set(indexes)].sort((a, b) => a - b)) {
    yield { index, data: await blockOfFile(path, index) };
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

export interface VolumeImage {
  deviceName: string;
  sizeGiB: number;
  /** Raw image file (sparse): a few random data blocks, the rest zeros. */
  path: string;
  /** The indexes of its data blocks (every other block is zeros, a hole in the file). */
  dataBlocks: number[];
}

/**
 * A copy of `image` at `path` that stays sparse: its data blocks written, holes elsewhere. (copyFile
 * writes every zero of a 1 GiB image on ext4: seconds of CPU per copy, none of it under test.)
 */
export async function sparseCopy(image: VolumeImage, path: string): Promise<string> {
  const blocks = [];
  for (const index of image.dataBlocks) blocks.push({ index, data: await blockOfFile(image.path, index) });
  return sparseImage(path, image.sizeGiB * GIB, blocks);
}

export interface Backup {
  folder: string;
  /** The backup repository: `folder`/repo, or the location of the one it was made in (`s3://…`). */
  repositoryPath: string;
  restorePoint: RestorePointSummary;
  images: VolumeImage[];
}

/**
 * A backup repository (folder) with one restore point of a Linux instance, root `devices[0]`: one
 * 1 GiB volume a device, with 6, 9, 12, ... random blocks spread over it. Given the folder of another
 * Backup, one more restore point in that repository.
 */
export async function createBackup(
  devices = ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'],
  inFolder?: string,
  recorded: {
    /** Boot and licensing attributes of the backed-up instance (docs/architecture.md#launch-strategies). */
    instance?: Partial<RestorePointSummary['instance']>;
    deleteOnTermination?: Record<string, boolean>;
    /** Where the restore point goes (an S3 repository, say); `repositoryPath` is then its location. */
    repository?: BackupRepository;
  } = {},
): Promise<Backup> {
  const folder = inFolder ?? (await mkdtemp(join(tmpdir(), 'ec2r-backup-')));
  const repository = recorded.repository ?? openBackupRepository(join(folder, 'repo'));
  const repositoryPath = repository.location;
  const builder = repository.createRestorePoint({
    source: { kind: 'raw-images' },
    instance: {
      ...INSTANCE,
      rootDeviceName: devices[0] ?? '/dev/xvda',
      network: { securityGroupIds: [] },
      tags: { Name: 'backed-up' },
      ...recorded.instance,
    },
  });
  const images: VolumeImage[] = [];
  for (const [n, deviceName] of devices.entries()) {
    const path = join(folder, `${deviceName.replace('/dev/', '')}.img`);
    const dataBlocks = spreadBlocks(GIB / BLOCK_SIZE, 6 + n * 3);
    await sparseImage(path, GIB, dataBlocks);
    const keep = recorded.deleteOnTermination?.[deviceName];
    const spec = { deviceName, sizeGiB: 1, volumeType: 'gp3' as const };
    await builder.addVolume(
      keep === undefined ? spec : { ...spec, deleteOnTermination: keep },
      knownBlocksOf(
        path,
        dataBlocks.map((b) => b.index),
      ),
    );
    images.push({ deviceName, sizeGiB: 1, path, dataBlocks: dataBlocks.map((b) => b.index) });
  }
  const manifest = await builder.commit();
  return { folder, repositoryPath, restorePoint: await repository.getSummary(manifest.id), images };
}

export async function removeBackup(backup: Backup | undefined): Promise<void> {
  if (backup) await rm(backup.folder, { recursive: true, force: true });
}

const { tags: _tags, ...INSTANCE_WITHOUT_TAGS } = INSTANCE;

/** A small restore point in `repository` without image files: three 1 GiB volumes, 4 data blocks each. */
export async function createSmallRestorePoint(repository: BackupRepository): Promise<string> {
  const builder = repository.createRestorePoint({
    source: { kind: 'raw-images' },
    instance: { ...INSTANCE_WITHOUT_TAGS, network: {} },
  });
  for (const [n, deviceName] of ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'].entries()) {
    async function* blocks() {
      for (let index = 0; index < 4; index++)
        yield { index, data: Buffer.alloc(BLOCK_SIZE, n * 16 + index + 1) };
    }
    await builder.addVolume({ deviceName, sizeGiB: 1, volumeType: 'gp3' }, blocks());
  }
  await builder.commit();
  return builder.id;
}

export interface OneVolumeRestorePoint {
  /** A temporary folder holding the image (disk.img) and the repository (repo); removed by work.remove(). */
  work: { path: string; remove: () => Promise<void> };
  repository: BackupRepository;
  /** The 1 GiB sparse raw image the restore point was made from. */
  imagePath: string;
  restorePointId: string;
}

/** A restore point of one 1 GiB volume (/dev/xvda) made from an image with random data at `dataBlocks`. */
export async function oneVolumeRestorePoint(dataBlocks: number[]): Promise<OneVolumeRestorePoint> {
  const work = await tempDir();
  const repository = openBackupRepository(join(work.path, 'repo'));
  const imagePath = await sparseImage(
    join(work.path, 'disk.img'),
    GIB,
    dataBlocks.map((index) => ({ index })),
  );
  const builder = repository.createRestorePoint({ source: { kind: 'raw-images' }, instance: INSTANCE });
  await builder.addVolume(
    { deviceName: '/dev/xvda', sizeGiB: 1, volumeType: 'gp3' },
    knownBlocksOf(imagePath, dataBlocks),
  );
  return { work, repository, imagePath, restorePointId: (await builder.commit()).id };
}

/** `error` is the BlockIntegrityError of block `blockIndex` of /dev/xvda, expected to hash to `expectedSha256`. */
export function expectBlockIntegrityError(
  error: unknown,
  restorePointId: string,
  blockIndex: number,
  expectedSha256: string,
): void {
  expect(error).toBeInstanceOf(BlockIntegrityError);
  expect(error).toMatchObject({ restorePointId, deviceName: '/dev/xvda', blockIndex, expectedSha256 });
}

/**
 * For a whole test file: a one-volume restore point (oneVolumeRestorePoint) made before its tests,
 * removed after them. Use it only inside tests and hooks.
 */
export function restorePointPerFile(dataBlocks: number[]): OneVolumeRestorePoint {
  let made: OneVolumeRestorePoint | undefined;
  beforeAll(async () => {
    made = await oneVolumeRestorePoint(dataBlocks);
  });
  afterAll(() => made?.work.remove());
  return new Proxy({} as OneVolumeRestorePoint, {
    get(_target, key) {
      if (!made) throw new Error('the restore point of this file is made in beforeAll: use it inside tests');
      return made[key as keyof OneVolumeRestorePoint];
    },
  });
}

import { randomBytes } from 'node:crypto';
import { mkdir, open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, blockKey, GIB, sha256Hex } from '@ec2-restore/backup-repository';
import { WorkerVolumeWriter } from '@ec2-restore/snapshot-writers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockOfFile,
  expectBlockIntegrityError,
  restorePointPerFile,
  sha256OfFile,
} from '../support/index.ts';

// The worker-volume data path with a device folder: files named after volume ids stand in for devices.
describe('worker-volume writer', () => {
  const rp = restorePointPerFile([0, 9, 2000]);
  let devices: string;

  beforeAll(async () => {
    devices = join(rp.work.path, 'devices');
    await mkdir(devices);
  });
  afterAll(async () => rp.work.remove());

  /** A stand-in device of `bytes`, with old data in a block the restore point has as zeros. */
  async function device(volumeId: string, bytes: number): Promise<string> {
    const path = join(devices, volumeId);
    await writeFile(path, '');
    await truncate(path, bytes);
    const handle = await open(path, 'r+');
    await handle.write(randomBytes(BLOCK_SIZE), 0, BLOCK_SIZE, 5 * BLOCK_SIZE);
    await handle.close();
    return path;
  }

  it('writes the volume onto the device byte for byte, zero blocks included', async () => {
    const path = await device('vol-0aaa', GIB);
    const writer = new WorkerVolumeWriter({ repository: rp.repository, deviceFolder: devices });
    let last = 0;
    const result = await writer.writeVolume({
      restorePointId: rp.restorePointId,
      deviceName: '/dev/xvda',
      target: { volumeId: 'vol-0aaa' },
      onProgress: (bytes) => {
        last = bytes;
      },
    });
    expect(result).toEqual({ volumeId: 'vol-0aaa', devicePath: path, bytesWritten: GIB });
    expect(last).toBe(GIB);
    expect(await sha256OfFile(path, GIB)).toBe(await sha256OfFile(rp.imagePath, GIB));
    expect((await blockOfFile(path, 5)).equals(Buffer.alloc(BLOCK_SIZE))).toBe(true);
  });

  it('refuses a device smaller than the volume, naming both sizes', async () => {
    await device('vol-0bbb', GIB / 2);
    const writer = new WorkerVolumeWriter({ repository: rp.repository, deviceFolder: devices });
    await expect(
      writer.writeVolume({
        restorePointId: rp.restorePointId,
        deviceName: '/dev/xvda',
        target: { volumeId: 'vol-0bbb' },
      }),
    ).rejects.toThrow(
      /holds 536870912 bytes, volume \/dev\/xvda needs 1073741824: attach a volume of at least 1 GiB/,
    );
  });

  it('says which device it waited for when it never appears', async () => {
    const writer = new WorkerVolumeWriter({
      repository: rp.repository,
      deviceFolder: devices,
      deviceWaitMs: 300,
    });
    await expect(
      writer.writeVolume({
        restorePointId: rp.restorePointId,
        deviceName: '/dev/xvda',
        target: { volumeId: 'vol-0ccc' },
      }),
    ).rejects.toThrow(/Device .*vol-0ccc did not appear/);
  });

  it('a corrupted block in the repository fails the restore with the block named', async () => {
    await device('vol-0ddd', GIB);
    const original = await blockOfFile(rp.imagePath, 9);
    const expected = sha256Hex(original);
    const store = (rp.repository as unknown as { store: { put(k: string, b: Buffer): Promise<void> } }).store;
    await store.put(blockKey(expected), original.subarray(0, BLOCK_SIZE - 1));
    try {
      const writer = new WorkerVolumeWriter({ repository: rp.repository, deviceFolder: devices });
      const error = await writer
        .writeVolume({
          restorePointId: rp.restorePointId,
          deviceName: '/dev/xvda',
          target: { volumeId: 'vol-0ddd' },
        })
        .catch((e: unknown) => e);
      expectBlockIntegrityError(error, rp.restorePointId, 9, expected);
    } finally {
      await store.put(blockKey(expected), original);
    }
  });
});

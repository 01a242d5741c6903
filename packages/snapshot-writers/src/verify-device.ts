import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  type BackupRepository,
  BLOCK_SIZE,
  type BlockRef,
  runPool,
  ZERO_BLOCK_SHA256_HEX,
} from '@ec2-restore/backup-repository';
import { type BlockMismatch, BlockMismatches } from './block-mismatches.ts';

export interface DeviceVerification {
  devicePath: string;
  ok: boolean;
  blocksChecked: number;
  /** How many blocks differ from the restore point (or lie past the device's end), in all. */
  mismatchCount: number;
  /** The differing blocks with the lowest indexes (at most `maxMismatches`), ascending by block index. */
  mismatches: BlockMismatch[];
}

export interface VerifyDeviceOptions {
  repository: BackupRepository;
  restorePointId: string;
  deviceName: string;
  /** The block device (or the file standing in for it) the volume was written to. */
  devicePath: string;
  /** Blocks read at once. @defaultValue 16 */
  concurrency?: number;
  /** Mismatches listed in the result (the count covers all). @defaultValue 100 */
  maxMismatches?: number;
  /** Called as blocks are checked, with the bytes checked so far. */
  onProgress?: (bytesChecked: number) => void;
  signal?: AbortSignal;
}

/**
 * Reads a volume written by the worker-volume path back from its device and compares every block's
 * SHA-256 with the restore point's block list, zero blocks included (the writer writes them). Memory
 * stays fixed: one block buffer per concurrent read, and a bounded list of mismatches.
 *
 * Reads go through the operating system like the writes did: after the writer's fsync they show what
 * the device holds as far as the kernel knows it.
 */
export async function verifyDeviceAgainstRestorePoint(
  options: VerifyDeviceOptions,
): Promise<DeviceVerification> {
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
  }
  const reader = await options.repository.openVolume(options.restorePointId, options.deviceName);
  const mismatches = new BlockMismatches(options.maxMismatches);
  const buffers = Array.from({ length: concurrency }, () => Buffer.allocUnsafe(BLOCK_SIZE));
  let blocksChecked = 0;
  const device = await open(options.devicePath, 'r');
  try {
    await runPool(
      reader.blocks(),
      concurrency,
      async (ref: BlockRef, slot: number) => {
        const buffer = buffers[slot]!;
        let filled = 0;
        while (filled < BLOCK_SIZE) {
          const { bytesRead } = await device.read(
            buffer,
            filled,
            BLOCK_SIZE - filled,
            ref.index * BLOCK_SIZE + filled,
          );
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        const expected = ref.sha256 ?? ZERO_BLOCK_SHA256_HEX;
        // A block past the device's end is missing, not a block of other data.
        const actual = filled < BLOCK_SIZE ? null : createHash('sha256').update(buffer).digest('hex');
        if (actual !== expected) {
          mismatches.add({ blockIndex: ref.index, expectedSha256: expected, actualSha256: actual });
        }
        blocksChecked += 1;
        options.onProgress?.(blocksChecked * BLOCK_SIZE);
      },
      options.signal,
    );
  } finally {
    await device.close();
  }
  return {
    devicePath: options.devicePath,
    ok: mismatches.count === 0,
    blocksChecked,
    mismatchCount: mismatches.count,
    mismatches: mismatches.list(),
  };
}

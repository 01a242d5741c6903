import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { BLOCK_SIZE, type BlockRef } from '@ec2-restore/backup-repository';
import {
  type BlockComparison,
  compareBlocks,
  positiveConcurrency,
  type ReadBackOptions,
} from './compare-blocks.ts';

export interface DeviceVerification extends BlockComparison {
  devicePath: string;
}

export interface VerifyDeviceOptions extends ReadBackOptions {
  /** The block device (or the file standing in for it) the volume was written to. */
  devicePath: string;
  /** Blocks read at once. @defaultValue 16 */
  concurrency?: number;
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
  const concurrency = positiveConcurrency(options.concurrency, 16);
  const reader = await options.repository.openVolume(options.restorePointId, options.deviceName);
  const buffers = Array.from({ length: concurrency }, () => Buffer.allocUnsafe(BLOCK_SIZE));
  const device = await open(options.devicePath, 'r');
  try {
    const comparison = await compareBlocks({
      ...options,
      items: reader.blocks(),
      refOf: (ref: BlockRef) => ref,
      concurrency,
      readActual: async (ref, slot) => {
        const buffer = buffers[slot]!;
        const filled = await readUpTo(device, buffer, ref.index * BLOCK_SIZE);
        // A block past the device's end is missing, not a block of other data.
        return filled < BLOCK_SIZE ? null : createHash('sha256').update(buffer).digest('hex');
      },
    });
    return { devicePath: options.devicePath, ...comparison };
  } finally {
    await device.close();
  }
}

/** Fills `buffer` from `position` on; fewer bytes only at the device's end. */
async function readUpTo(device: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  for (;;) {
    const left = buffer.length - filled;
    if (left === 0) return filled;
    const { bytesRead } = await device.read(buffer, filled, left, position + filled);
    if (bytesRead === 0) return filled;
    filled += bytesRead;
  }
}

import { open } from 'node:fs/promises';
import {
  type BackupRepository,
  BLOCK_SIZE,
  type BlockRef,
  runPool,
  ZERO_BLOCK,
} from '@ec2-restore/backup-repository';
import { resolveDevicePath, waitForDevice } from './device-path.ts';
import type { SnapshotWriter, WriteVolumeRequest } from './snapshot-writer.ts';

export interface WorkerVolumeTarget {
  /** The EBS volume attached to this instance that receives the data. */
  volumeId: string;
}

export interface WorkerVolumeResult {
  volumeId: string;
  devicePath: string;
  bytesWritten: number;
}

export interface WorkerVolumeWriterOptions {
  repository: BackupRepository;
  /**
   * A folder whose files are named after volume ids and stand in for their block devices (tests, or hosts
   * where the NVMe by-id links are absent). @defaultValue the NVMe link under /dev/disk/by-id
   */
  deviceFolder?: string;
  /** Blocks written at once. @defaultValue 16 */
  inFlight?: number;
  /**
   * `write` writes zero blocks too (the device may hold old data); `skip` leaves them, for a volume known
   * to be new and empty (a new EBS volume reads as zeros). @defaultValue 'write'
   */
  zeroBlocks?: 'write' | 'skip';
  /** How long to wait for the device to appear after the attach. @defaultValue 120000 */
  deviceWaitMs?: number;
}

/**
 * Writes a volume of a restore point onto the block device of an attached EBS volume with positional
 * writes, then fsyncs it; the caller detaches it and creates the snapshot.
 */
export class WorkerVolumeWriter implements SnapshotWriter<WorkerVolumeTarget, WorkerVolumeResult> {
  readonly kind = 'worker-volume' as const;

  constructor(private readonly options: WorkerVolumeWriterOptions) {}

  async writeVolume(request: WriteVolumeRequest<WorkerVolumeTarget>): Promise<WorkerVolumeResult> {
    const { repository } = this.options;
    const inFlight = this.options.inFlight ?? 16;
    const skipZeros = this.options.zeroBlocks === 'skip';
    const reader = await repository.openVolume(request.restorePointId, request.deviceName);
    await reader.checkBlockList();

    const devicePath = resolveDevicePath(request.target.volumeId, this.options.deviceFolder);
    await waitForDevice(devicePath, this.options.deviceWaitMs ?? 120_000, request.signal);
    // r+: never create or truncate; the device (or its stand-in file) must already be there.
    const device = await open(devicePath, 'r+');
    try {
      const size = (await device.stat()).size;
      // A block device's stat size is 0; its real size is checked by a read at the last offset below.
      if (size !== 0 && size < reader.sizeBytes) {
        throw new Error(
          `Device ${devicePath} holds ${size} bytes, volume ${request.deviceName} needs ${reader.sizeBytes}: attach a volume of at least ${reader.volume.sizeGiB} GiB.`,
        );
      }
      const buffers = Array.from({ length: inFlight }, () => Buffer.allocUnsafe(BLOCK_SIZE));
      let bytesDone = 0;
      await runPool(
        reader.blocks(),
        inFlight,
        async (ref: BlockRef, slot: number) => {
          if (ref.sha256 !== null || !skipZeros) {
            const data =
              ref.sha256 === null
                ? ZERO_BLOCK
                : await reader.readBlock({ index: ref.index, sha256: ref.sha256 }, buffers[slot]!);
            let written = 0;
            while (written < BLOCK_SIZE) {
              const { bytesWritten } = await device.write(
                data,
                written,
                BLOCK_SIZE - written,
                ref.index * BLOCK_SIZE + written,
              );
              written += bytesWritten;
            }
          }
          bytesDone += BLOCK_SIZE;
          request.onProgress?.(bytesDone);
        },
        request.signal,
      );
      await device.sync();
      return { volumeId: request.target.volumeId, devicePath, bytesWritten: bytesDone };
    } finally {
      await device.close();
    }
  }
}

import { BLOCK_SIZE } from './block.ts';
import type { BlockRef } from './block-list.ts';
import { BackupRepositoryError } from './errors.ts';
import type { BackupRepository } from './repository.ts';
import { runPool } from './run-pool.ts';

export interface VolumeVerification {
  deviceName: string;
  blockCount: number;
  zeroBlockCount: number;
  blocksChecked: number;
  /** One line per bad block (or a bad block list), each naming the block and its expected hash. */
  problems: string[];
}

export interface RestorePointVerification {
  restorePointId: string;
  ok: boolean;
  volumes: VolumeVerification[];
}

export interface VerifyOptions {
  /** Blocks read at once. @defaultValue 8 */
  concurrency?: number;
  /** Stop collecting problems after this many per volume. @defaultValue 100 */
  maxProblems?: number;
  onProgress?: (bytesChecked: number, bytesTotal: number) => void;
  signal?: AbortSignal;
}

/** Re-reads and re-hashes every stored block of a restore point. Reports problems instead of stopping at one. */
export async function verifyRestorePoint(
  repository: BackupRepository,
  restorePointId: string,
  options: VerifyOptions = {},
): Promise<RestorePointVerification> {
  const concurrency = options.concurrency ?? 8;
  const maxProblems = options.maxProblems ?? 100;
  const manifest = await repository.getManifest(restorePointId);
  const bytesTotal = manifest.volumes.reduce((sum, v) => sum + v.blockCount * BLOCK_SIZE, 0);
  let bytesChecked = 0;
  const volumes: VolumeVerification[] = [];
  const buffers = Array.from({ length: concurrency }, () => Buffer.allocUnsafe(BLOCK_SIZE));

  for (const volume of manifest.volumes) {
    const reader = await repository.openVolume(restorePointId, volume.deviceName);
    const result: VolumeVerification = {
      deviceName: volume.deviceName,
      blockCount: volume.blockCount,
      zeroBlockCount: volume.zeroBlockCount,
      blocksChecked: 0,
      problems: [],
    };
    const report = (message: string): void => {
      if (result.problems.length < maxProblems) result.problems.push(message);
    };
    try {
      await runPool(
        reader.blocks(),
        concurrency,
        async (ref: BlockRef, slot) => {
          if (ref.sha256 !== null) {
            try {
              await reader.readBlock({ index: ref.index, sha256: ref.sha256 }, buffers[slot]!);
            } catch (err) {
              if (!(err instanceof BackupRepositoryError)) throw err;
              report(err.message);
            }
          }
          result.blocksChecked += 1;
          bytesChecked += BLOCK_SIZE;
          options.onProgress?.(bytesChecked, bytesTotal);
        },
        options.signal,
      );
    } catch (err) {
      if (!(err instanceof BackupRepositoryError)) throw err;
      report(err.message);
    }
    volumes.push(result);
  }
  return { restorePointId, ok: volumes.every((v) => v.problems.length === 0), volumes };
}

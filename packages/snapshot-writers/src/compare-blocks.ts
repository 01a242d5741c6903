import {
  type BackupRepository,
  BLOCK_SIZE,
  type BlockRef,
  runPool,
  ZERO_BLOCK_SHA256_HEX,
} from '@ec2-restore/backup-repository';
import { type BlockMismatch, BlockMismatches } from './block-mismatches.ts';

/** What a read-back found: every block of the restore point checked, the differing ones counted. */
export interface BlockComparison {
  ok: boolean;
  blocksChecked: number;
  /** How many blocks differ from the restore point (or are missing from what was read), in all. */
  mismatchCount: number;
  /** The differing blocks with the lowest indexes (at most `maxMismatches`), ascending by block index. */
  mismatches: BlockMismatch[];
}

export interface CompareBlocksOptions<T> {
  /** One item a block of the restore point, ascending by block index. */
  items: AsyncIterable<T>;
  refOf: (item: T) => BlockRef;
  /** SHA-256 (hex) of the block as read back; null when the snapshot or device has no such block. */
  readActual: (item: T, slot: number) => Promise<string | null>;
  /** Blocks read at once; `slot` (0 to concurrency - 1) tells a reader which buffer is its own. */
  concurrency: number;
  /** Mismatches listed in the result (the count covers all). @defaultValue 100 */
  maxMismatches?: number | undefined;
  /** Called as blocks are checked, with the bytes checked so far. */
  onProgress?: ((bytesChecked: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What every read-back verifier is given: the volume of the restore point to compare with, and limits. */
export interface ReadBackOptions {
  repository: BackupRepository;
  restorePointId: string;
  deviceName: string;
  /** Blocks read at once (each verifier names its default). */
  concurrency?: number;
  /** Mismatches listed in the result (the count covers all). @defaultValue 100 */
  maxMismatches?: number;
  /** Called as blocks are checked, with the bytes checked so far. */
  onProgress?: (bytesChecked: number) => void;
  signal?: AbortSignal;
}

/** The concurrency a verifier was given, or its default; anything but a positive integer is refused. */
export function positiveConcurrency(value: number | undefined, defaultValue: number): number {
  const concurrency = value ?? defaultValue;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${value}`);
  }
  return concurrency;
}

/**
 * Compares every block's SHA-256 as read back with the restore point's (zero blocks included: the
 * writers write them, so they must read as zeros). Memory stays fixed: `concurrency` reads at a time and
 * a bounded list of mismatches.
 */
export async function compareBlocks<T>(options: CompareBlocksOptions<T>): Promise<BlockComparison> {
  const mismatches = new BlockMismatches(options.maxMismatches);
  let blocksChecked = 0;
  await runPool(
    options.items,
    options.concurrency,
    async (item: T, slot: number) => {
      const ref = options.refOf(item);
      const expected = ref.sha256 ?? ZERO_BLOCK_SHA256_HEX;
      const actual = await options.readActual(item, slot);
      if (actual !== expected) {
        mismatches.add({ blockIndex: ref.index, expectedSha256: expected, actualSha256: actual });
      }
      blocksChecked += 1;
      options.onProgress?.(blocksChecked * BLOCK_SIZE);
    },
    options.signal,
  );
  return {
    ok: mismatches.count === 0,
    blocksChecked,
    mismatchCount: mismatches.count,
    mismatches: mismatches.list(),
  };
}

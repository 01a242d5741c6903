import { createHash } from 'node:crypto';
import { type EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import {
  type BackupRepository,
  BLOCK_SIZE,
  type BlockRef,
  runPool,
  ZERO_BLOCK_SHA256_HEX,
} from '@ec2-restore/backup-repository';
import { withAbortScope } from './abort-scope.ts';
import { type BlockMismatch, BlockMismatches } from './block-mismatches.ts';
import { withRetries } from './retry-policy.ts';

export interface SnapshotVerification {
  snapshotId: string;
  ok: boolean;
  blocksChecked: number;
  /** How many blocks differ from the restore point (or are missing from the snapshot), in all. */
  mismatchCount: number;
  /** The differing blocks with the lowest indexes (at most `maxMismatches`), ascending by block index. */
  mismatches: BlockMismatch[];
}

interface ListedBlock {
  index: number;
  token: string;
}

async function* listedBlocks(
  ebs: EBSClient,
  snapshotId: string,
  signal: AbortSignal,
): AsyncGenerator<ListedBlock> {
  let token: string | undefined;
  do {
    const page = await withRetries(
      () =>
        ebs.send(
          new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: token, MaxResults: 10_000 }),
          { abortSignal: signal },
        ),
      { signal },
    );
    for (const block of page.Blocks ?? []) yield { index: block.BlockIndex!, token: block.BlockToken! };
    token = page.NextToken;
  } while (token !== undefined);
}

export interface VerifySnapshotOptions {
  ebs: EBSClient;
  repository: BackupRepository;
  restorePointId: string;
  deviceName: string;
  snapshotId: string;
  /** GetSnapshotBlock calls in flight. @defaultValue 32 */
  concurrency?: number;
  /** Mismatches listed in the result (the count covers all). @defaultValue 100 */
  maxMismatches?: number;
  /** Called as blocks are checked, with the bytes checked so far. */
  onProgress?: (bytesChecked: number) => void;
  signal?: AbortSignal;
}

/**
 * Reads an EBS snapshot back through the EBS direct APIs and compares every block's SHA-256 with the
 * restore point's block list (zero blocks included: the writer writes them, so they must read as zeros).
 * Memory stays fixed: blocks are hashed as they stream in, `concurrency` at a time, and only a bounded
 * list of mismatches is kept.
 */
export async function verifySnapshotAgainstRestorePoint(
  options: VerifySnapshotOptions,
): Promise<SnapshotVerification> {
  const concurrency = options.concurrency ?? 32;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
  }
  // The pool's calls and the block listing share one signal of this verification (see AbortScope).
  return withAbortScope(options.signal, concurrency + 1, (signal) =>
    verifyWithSignal({ ...options, concurrency }, signal),
  );
}

async function verifyWithSignal(
  options: VerifySnapshotOptions & { concurrency: number },
  signal: AbortSignal,
): Promise<SnapshotVerification> {
  const { ebs, snapshotId } = options;
  const reader = await options.repository.openVolume(options.restorePointId, options.deviceName);
  const mismatches = new BlockMismatches(options.maxMismatches);
  let blocksChecked = 0;

  // Walk the manifest's block list and the snapshot's block list side by side (both ascending).
  async function* pairs(): AsyncGenerator<{ ref: BlockRef; listed: ListedBlock | undefined }> {
    const listed = listedBlocks(ebs, snapshotId, signal);
    let next = await listed.next();
    for await (const ref of reader.blocks()) {
      while (!next.done && next.value.index < ref.index) next = await listed.next();
      if (!next.done && next.value.index === ref.index) yield { ref, listed: next.value };
      else yield { ref, listed: undefined };
    }
  }

  await runPool(
    pairs(),
    options.concurrency,
    async ({ ref, listed }) => {
      const expected = ref.sha256 ?? ZERO_BLOCK_SHA256_HEX;
      let actual: string | null = null;
      if (listed !== undefined) {
        const out = await withRetries(
          () =>
            ebs.send(
              new GetSnapshotBlockCommand({
                SnapshotId: snapshotId,
                BlockIndex: listed.index,
                BlockToken: listed.token,
              }),
              { abortSignal: signal },
            ),
          { signal },
        );
        // Hashed as it streams in: no block-sized buffer per call.
        const hash = createHash('sha256');
        for await (const chunk of out.BlockData as AsyncIterable<Uint8Array>) hash.update(chunk);
        actual = hash.digest('hex');
      }
      if (actual !== expected) {
        mismatches.add({ blockIndex: ref.index, expectedSha256: expected, actualSha256: actual });
      }
      blocksChecked += 1;
      options.onProgress?.(blocksChecked * BLOCK_SIZE);
    },
    signal,
  );
  return {
    snapshotId,
    ok: mismatches.count === 0,
    blocksChecked,
    mismatchCount: mismatches.count,
    mismatches: mismatches.list(),
  };
}

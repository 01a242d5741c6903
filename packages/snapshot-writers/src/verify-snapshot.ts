import { createHash } from 'node:crypto';
import { type EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import type { BlockRef } from '@ec2-restore/backup-repository';
import { withAbortScope } from './abort-scope.ts';
import {
  type BlockComparison,
  compareBlocks,
  positiveConcurrency,
  type ReadBackOptions,
} from './compare-blocks.ts';
import { withRetries } from './retry-policy.ts';

export interface SnapshotVerification extends BlockComparison {
  snapshotId: string;
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

export interface VerifySnapshotOptions extends ReadBackOptions {
  ebs: EBSClient;
  snapshotId: string;
  /** GetSnapshotBlock calls in flight. @defaultValue 32 */
  concurrency?: number;
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
  const concurrency = positiveConcurrency(options.concurrency, 32);
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

  const comparison = await compareBlocks({
    ...options,
    items: pairs(),
    refOf: ({ ref }) => ref,
    signal,
    readActual: async ({ listed }) => {
      if (listed === undefined) return null;
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
      return hash.digest('hex');
    },
  });
  return { snapshotId, ...comparison };
}

import { createHash } from 'node:crypto';
import { type EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import {
  type BackupRepository,
  type BlockRef,
  runPool,
  ZERO_BLOCK_SHA256_HEX,
} from '@ec2-restore/backup-repository';
import { withRetries } from './retry-policy.ts';

export interface SnapshotVerification {
  snapshotId: string;
  ok: boolean;
  blocksChecked: number;
  /** Up to 100 blocks whose data differs from the manifest (or that the snapshot lacks). */
  mismatches: { blockIndex: number; expectedSha256: string; actualSha256: string | null }[];
}

interface ListedBlock {
  index: number;
  token: string;
}

async function* listedBlocks(
  ebs: EBSClient,
  snapshotId: string,
  signal?: AbortSignal,
): AsyncGenerator<ListedBlock> {
  let token: string | undefined;
  do {
    const page = await withRetries(
      () =>
        ebs.send(
          new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: token, MaxResults: 10_000 }),
          {
            abortSignal: signal,
          },
        ),
      signal ? { signal } : {},
    );
    for (const block of page.Blocks ?? []) yield { index: block.BlockIndex!, token: block.BlockToken! };
    token = page.NextToken;
  } while (token !== undefined);
}

/**
 * Reads an EBS snapshot back through the EBS direct APIs and compares every block's SHA-256 with the
 * restore point's manifest (zero blocks included: the writer writes them, so they must read as zeros).
 */
export async function verifySnapshotAgainstRestorePoint(options: {
  ebs: EBSClient;
  repository: BackupRepository;
  restorePointId: string;
  deviceName: string;
  snapshotId: string;
  /** @defaultValue 32 */
  concurrency?: number;
  signal?: AbortSignal;
}): Promise<SnapshotVerification> {
  const { ebs, snapshotId, signal } = options;
  const reader = await options.repository.openVolume(options.restorePointId, options.deviceName);
  const mismatches: SnapshotVerification['mismatches'] = [];
  const report = (m: SnapshotVerification['mismatches'][number]): void => {
    if (mismatches.length < 100) mismatches.push(m);
  };
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
    options.concurrency ?? 32,
    async ({ ref, listed }) => {
      const expected = ref.sha256 ?? ZERO_BLOCK_SHA256_HEX;
      blocksChecked += 1;
      if (listed === undefined) {
        report({ blockIndex: ref.index, expectedSha256: expected, actualSha256: null });
        return;
      }
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
        signal ? { signal } : {},
      );
      const data = await out.BlockData!.transformToByteArray();
      const actual = createHash('sha256').update(data).digest('hex');
      if (actual !== expected)
        report({ blockIndex: ref.index, expectedSha256: expected, actualSha256: actual });
    },
    signal,
  );
  // Reads finish in any order (they run concurrently): report the blocks in block order.
  mismatches.sort((a, b) => a.blockIndex - b.blockIndex);
  return { snapshotId, ok: mismatches.length === 0, blocksChecked, mismatches };
}

import { createHash } from 'node:crypto';
import {
  type EBSClient,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
} from '@aws-sdk/client-ebs';
import { describe, expect, it } from 'vitest';
import { completeSnapshot, expectAwsError, newAccount, startVisibleSnapshot } from '../support/index.ts';

// ListSnapshotBlocks and ListChangedBlocks answer in pages, in ascending block index order:
// "MaxResults ... Valid Range: Minimum value of 100. Maximum value of 10000", "The value of NextToken is
// null when there are no more blocks to return", "If you specify NextToken, then StartingBlockIndex is
// ignored", "The list in the response will start from this block index or the next valid block index"
// (https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html,
// https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html); below 100 "the API
// will return at least 100 results" (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html).
// Plain moto 5.2.1 answers every block in one page and ignores all three parameters.

const BLOCK_SIZE = 524288;
const ZEROS = Buffer.alloc(BLOCK_SIZE);
const ONES = Buffer.alloc(BLOCK_SIZE, 1);

async function putBlocks(ebs: EBSClient, snapshotId: string, indexes: number[], data: Buffer): Promise<void> {
  const checksum = createHash('sha256').update(data).digest('base64');
  // Written 16 at a time, in a shuffled order: the listing must sort them, not replay the writes.
  const order = [...indexes].reverse();
  for (let i = 0; i < order.length; i += 16) {
    await Promise.all(
      order.slice(i, i + 16).map((index) =>
        ebs.send(
          new PutSnapshotBlockCommand({
            SnapshotId: snapshotId,
            BlockIndex: index,
            BlockData: data,
            DataLength: BLOCK_SIZE,
            Checksum: checksum,
            ChecksumAlgorithm: 'SHA256',
          }),
        ),
      ),
    );
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('EBS direct listings in pages', () => {
  it('ListSnapshotBlocks: pages of MaxResults (at least 100) in block order, NextToken until the last, StartingBlockIndex', async () => {
    const { aws } = newAccount();
    const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    await putBlocks(aws.ebs, snapshotId, range(0, 130), ZEROS);
    await completeSnapshot(aws, snapshotId, 130);
    const list = (input: { MaxResults?: number; NextToken?: string; StartingBlockIndex?: number }) =>
      aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, ...input }));

    const first = await list({ MaxResults: 100 });
    expect(first.Blocks!.map((b) => b.BlockIndex)).toEqual(range(0, 100));
    expect(first.NextToken).toBeTruthy();
    // NextToken wins over StartingBlockIndex.
    const second = await list({ MaxResults: 100, NextToken: first.NextToken!, StartingBlockIndex: 5 });
    expect(second.Blocks!.map((b) => b.BlockIndex)).toEqual(range(100, 130));
    expect(second.NextToken).toBeUndefined();

    // Below 100: still 100.
    expect((await list({ MaxResults: 10 })).Blocks).toHaveLength(100);
    const from = await list({ StartingBlockIndex: 125 });
    expect(from.Blocks!.map((b) => b.BlockIndex)).toEqual(range(125, 130));
    expect(from.VolumeSize).toBe(1);
    await expectAwsError(list({ MaxResults: 10_001 }), 'ValidationException');
    await expectAwsError(list({ NextToken: 'bm90LWEtdG9rZW4=' }), 'ValidationException');
  });

  it('ListChangedBlocks: the blocks whose data differs, with the tokens of each side, in pages', async () => {
    const { aws } = newAccount();
    const first = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    const second = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    await putBlocks(aws.ebs, first, range(0, 120), ZEROS);
    // Same data in 0-9, other data in 10-119, and 120-124 only in the second.
    await putBlocks(aws.ebs, second, range(0, 10), ZEROS);
    await putBlocks(aws.ebs, second, range(10, 125), ONES);
    await Promise.all([completeSnapshot(aws, first, 120), completeSnapshot(aws, second, 125)]);

    const list = (NextToken?: string) =>
      aws.ebs.send(
        new ListChangedBlocksCommand({
          FirstSnapshotId: first,
          SecondSnapshotId: second,
          MaxResults: 100,
          ...(NextToken ? { NextToken } : {}),
        }),
      );
    const page1 = await list();
    expect(page1.ChangedBlocks!.map((b) => b.BlockIndex)).toEqual(range(10, 110));
    expect(page1.ChangedBlocks![0]!.FirstBlockToken).toBeTruthy();
    expect(page1.ChangedBlocks![0]!.SecondBlockToken).toBeTruthy();
    const page2 = await list(page1.NextToken!);
    expect(page2.ChangedBlocks!.map((b) => b.BlockIndex)).toEqual(range(110, 125));
    expect(page2.NextToken).toBeUndefined();
    const onlyInSecond = page2.ChangedBlocks!.find((b) => b.BlockIndex === 122)!;
    expect(onlyInSecond.FirstBlockToken).toBeUndefined();
    expect(onlyInSecond.SecondBlockToken).toBeTruthy();

    // "The SecondSnapshotId parameter must be specified with a FirstSnapshotID parameter; otherwise, an
    // error occurs."
    await expectAwsError(
      aws.ebs.send(new ListChangedBlocksCommand({ SecondSnapshotId: second })),
      'ValidationException',
    );
  });
});

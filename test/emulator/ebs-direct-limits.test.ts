import { Readable } from 'node:stream';
import { PutSnapshotBlockCommand } from '@aws-sdk/client-ebs';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { describe, expect, it } from 'vitest';
import { type Account, blockChecksum, putBlock, startVisibleSnapshot } from '../support/index.ts';
import { emulatorPerBlock } from '../support/own-emulator.ts';

// AWS throttles the EBS direct APIs: RequestThrottledException "The number of API requests has
// exceeded the maximum allowed API request throttling limit for the snapshot." and
// ConcurrentLimitExceededException "You have reached the limit for concurrent API requests."
// (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors;
// "build retry mechanisms into your EBS direct APIs workflows to handle throttling",
// https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-performance.html). The emulator's default
// is AWS's 1,000 PutSnapshotBlock per second per snapshot; this file runs its own emulator with
// limits low enough to reach. Plain moto 5.2.1 never throttles.

const BLOCK = Buffer.alloc(524288, 3);
const CHECKSUM = blockChecksum(BLOCK);
const put = (aws: AwsClients, snapshotId: string, index: number) =>
  putBlock(aws.ebs, snapshotId, index, BLOCK, CHECKSUM);

// Each describe block runs its own emulator with one of the limits low enough to reach.
const FOUR_PUTS_PER_SECOND = {
  EC2RESTORE_EMULATOR_EBS_PUT_RATE: '4',
  EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT: '0',
};
const ONE_IN_FLIGHT = { EC2RESTORE_EMULATOR_EBS_PUT_RATE: '0', EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT: '1' };

/** `calls` PutSnapshotBlock at once on a new snapshot of `account`: the snapshot, and the names of the errors. */
async function burst(account: Account, calls: number) {
  const { aws } = account;
  const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
  const settled = await Promise.allSettled(Array.from({ length: calls }, (_, i) => put(aws, snapshotId, i)));
  return {
    aws,
    snapshotId,
    errors: new Set(settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).name] : []))),
  };
}

describe('EBS direct limits', () => {
  const account = emulatorPerBlock(FOUR_PUTS_PER_SECOND);

  it('more PutSnapshotBlock per second on one snapshot than the rate: RequestThrottledException; a second later it works', async () => {
    const { aws, snapshotId, errors } = await burst(account(), 12);
    expect(errors).toEqual(new Set(['RequestThrottledException']));
    // Another snapshot has its own budget.
    const other = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    await put(aws, other, 0);
    await new Promise((r) => setTimeout(r, 1100));
    await put(aws, snapshotId, 0);
    aws.destroy();
  });
});

/**
 * A block body that sends its first half, then the rest `pauseMs` later: its request stays in flight at
 * least that long, however the machine schedules the client and the emulator. (Whole bodies sent at
 * once could each be served before the next arrived on a busy machine: no two in flight, no error.)
 * A stream body is sent with an UNSIGNED-PAYLOAD signature, as the product's writer sends blocks.
 */
function slowBlock(pauseMs: number): Readable {
  return Readable.from(
    (async function* () {
      yield BLOCK.subarray(0, BLOCK.length / 2);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      yield BLOCK.subarray(BLOCK.length / 2);
    })(),
  );
}

describe('EBS direct requests in flight per account', () => {
  const account = emulatorPerBlock(ONE_IN_FLIGHT);

  it('more block requests at once than the account may have in flight: ConcurrentLimitExceededException', async () => {
    const { aws } = account();
    const snapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    const settled = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        aws.ebs.send(
          new PutSnapshotBlockCommand({
            SnapshotId: snapshotId,
            BlockIndex: i,
            BlockData: slowBlock(1_000),
            DataLength: BLOCK.length,
            Checksum: CHECKSUM,
            ChecksumAlgorithm: 'SHA256',
          }),
        ),
      ),
    );
    const errors = new Set(
      settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).name] : [])),
    );
    expect(errors).toEqual(new Set(['ConcurrentLimitExceededException']));
    // One at a time is fine.
    await put(aws, snapshotId, 0);
    await put(aws, snapshotId, 1);
    aws.destroy();
  });
});

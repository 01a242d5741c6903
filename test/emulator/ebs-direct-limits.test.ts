import { createHash } from 'node:crypto';
import { PutSnapshotBlockCommand } from '@aws-sdk/client-ebs';
import type { AwsClients } from '@ec2-restore/aws-clients';
import type { RunningEmulator } from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVisibleSnapshot } from '../support/index.ts';
import { accountOn, startEmulatorWith } from '../support/own-emulator.ts';

// AWS throttles the EBS direct APIs: RequestThrottledException "The number of API requests has
// exceeded the maximum allowed API request throttling limit for the snapshot." and
// ConcurrentLimitExceededException "You have reached the limit for concurrent API requests."
// (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors;
// "build retry mechanisms into your EBS direct APIs workflows to handle throttling",
// https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-performance.html). The emulator's default
// is AWS's 1,000 PutSnapshotBlock per second per snapshot; this file runs its own emulator with
// limits low enough to reach. Plain moto 5.2.1 never throttles.

const BLOCK = Buffer.alloc(524288, 3);
const CHECKSUM = createHash('sha256').update(BLOCK).digest('base64');

function put(aws: AwsClients, snapshotId: string, index: number) {
  return aws.ebs.send(
    new PutSnapshotBlockCommand({
      SnapshotId: snapshotId,
      BlockIndex: index,
      BlockData: BLOCK,
      DataLength: BLOCK.length,
      Checksum: CHECKSUM,
      ChecksumAlgorithm: 'SHA256',
    }),
  );
}

async function errorsOf(calls: Promise<unknown>[]): Promise<string[]> {
  const settled = await Promise.allSettled(calls);
  return settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).name] : []));
}

describe('EBS direct limits', () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulatorWith({
      EC2RESTORE_EMULATOR_EBS_PUT_RATE: '4',
      EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT: '0',
    });
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it('more PutSnapshotBlock per second on one snapshot than the rate: RequestThrottledException; a second later it works', async () => {
    const { aws } = accountOn(emulator);
    const SnapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    const errors = await errorsOf(Array.from({ length: 12 }, (_, i) => put(aws, SnapshotId!, i)));
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors)).toEqual(new Set(['RequestThrottledException']));
    // Another snapshot has its own budget.
    const other = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    await put(aws, other, 0);
    await new Promise((r) => setTimeout(r, 1100));
    await put(aws, SnapshotId!, 0);
    aws.destroy();
  });
});

describe('EBS direct requests in flight per account', () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulatorWith({
      EC2RESTORE_EMULATOR_EBS_PUT_RATE: '0',
      EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT: '1',
    });
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it('more block requests at once than the account may have in flight: ConcurrentLimitExceededException', async () => {
    const { aws } = accountOn(emulator);
    const SnapshotId = await startVisibleSnapshot(aws.ebs, { VolumeSize: 1 });
    const errors = await errorsOf(Array.from({ length: 32 }, (_, i) => put(aws, SnapshotId!, i)));
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors)).toEqual(new Set(['ConcurrentLimitExceededException']));
    // One at a time is fine.
    await put(aws, SnapshotId!, 0);
    await put(aws, SnapshotId!, 1);
    aws.destroy();
  });
});

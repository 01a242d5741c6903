import { randomBytes } from 'node:crypto';
import { ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { clientsFor, createKey, ebsDirectWriter, restorePointPerFile } from '../support/index.ts';
import { emulatorPerBlock } from '../support/own-emulator.ts';

// The EBS direct writer against an account that may have fewer block requests in flight than the
// writer sends: AWS answers ConcurrentLimitExceededException "You have reached the limit for
// concurrent API requests" (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors)
// and asks callers to retry (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-performance.html).
// The emulator's limit (test/emulator/ebs-direct-limits.test.ts) is set low enough to reach.

const SLOW = 600_000;

describe("ebs-direct writer above the account's EBS direct requests in flight", () => {
  const account = emulatorPerBlock({
    EC2RESTORE_EMULATOR_EBS_PUT_RATE: '0',
    EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT: '2',
  });
  const dataBlocks = [0, 7, 2047];
  const rp = restorePointPerFile(dataBlocks);

  it('writes every block: the throttled PutSnapshotBlock calls are retried by the writer', {
    timeout: SLOW,
  }, async () => {
    const owner = account();
    const { aws } = owner;
    const keyArn = (await createKey(owner)).Arn;
    // The writer's requests pass a proxy that counts the emulator's answers.
    const endpoint = await aws.ebs.config.endpoint?.();
    const proxy = await startFaultProxy({
      target: `${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`,
      faultRate: 0,
    });
    const viaProxy = clientsFor(credentialsForAccount(owner.id), { endpoint: proxy.endpoint });
    const writer = ebsDirectWriter(rp, viaProxy, { inFlight: 16, completionPollMs: 100 });
    const result = await writer.writeVolume({
      restorePointId: rp.restorePointId,
      deviceName: '/dev/xvda',
      target: { restoreId: `r-${randomBytes(4).toString('hex')}`, kmsKeyArn: keyArn },
    });

    expect(result).toMatchObject({ kmsKeyId: keyArn, blocksWritten: 2048 });
    const answers = proxy.counts().forwardedAnswers;
    await proxy.close();
    // HTTP 400: ConcurrentLimitExceededException (nothing else answers 400 in a write that succeeds).
    expect(answers[400]).toBeGreaterThan(0);
    const { Snapshots = [] } = await aws.ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [result.snapshotId] }),
    );
    expect(Snapshots[0]?.State).toBe('completed');
    const listed = await aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: result.snapshotId }));
    expect(listed.Blocks).toHaveLength(2048);
  });
});

// AWS takes at most 1,000 PutSnapshotBlock requests per second for one snapshot and answers
// RequestThrottledException past it (https://docs.aws.amazon.com/general/latest/gr/ebs-service.html); a
// throttled block waits a random backoff. The writer spaces its requests under the rate it is given (950
// by default). Here the emulator's per-snapshot rate is lowered so that a write reaches it on any machine.
describe('ebs-direct writer and the per-snapshot PutSnapshotBlock rate', () => {
  const RATE = 400;
  const account = emulatorPerBlock({ EC2RESTORE_EMULATOR_EBS_PUT_RATE: String(RATE) });
  const rp = restorePointPerFile([0, 1, 2, 1000, 2047]);

  /** Writes the volume through a counting proxy; answers the write's result and the answers by status. */
  async function writeVia(putsPerSecond: number) {
    const owner = account();
    const keyArn = (await createKey(owner)).Arn;
    const endpoint = await owner.aws.ebs.config.endpoint?.();
    const proxy = await startFaultProxy({
      target: `${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`,
      faultRate: 0,
    });
    try {
      const viaProxy = clientsFor(credentialsForAccount(owner.id), { endpoint: proxy.endpoint });
      const writer = ebsDirectWriter(rp, viaProxy, { inFlight: 32, completionPollMs: 100, putsPerSecond });
      const result = await writer.writeVolume({
        restorePointId: rp.restorePointId,
        deviceName: '/dev/xvda',
        target: { restoreId: `r-${randomBytes(4).toString('hex')}`, kmsKeyArn: keyArn },
      });
      return { owner, result, answers: proxy.counts().forwardedAnswers };
    } finally {
      await proxy.close();
    }
  }

  it('spaced under the rate, no block is throttled and every block is written', {
    timeout: SLOW,
  }, async () => {
    // A quarter under the rate: the emulator counts a request when it serves it, and on a machine as busy as
    // CI it can pause long enough that requests sent evenly are served in a bunch (the product's 5% margin
    // is for AWS's network, not for a host that stops for a tenth of a second).
    const { owner, result, answers } = await writeVia(RATE * 0.75);
    // 400: RequestThrottledException (nothing else answers 400 in a write that succeeds).
    expect(answers[400] ?? 0).toBe(0);
    expect(result).toMatchObject({ blocksWritten: 2048 });
    const listed = await owner.aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: result.snapshotId }));
    expect(listed.Blocks).toHaveLength(2048);
  });

  it('without the spacing, the same write is throttled (what the spacing avoids)', {
    timeout: SLOW,
  }, async () => {
    const { result, answers } = await writeVia(0);
    expect(answers[400]).toBeGreaterThan(0);
    expect(result).toMatchObject({ blocksWritten: 2048 });
  });
});

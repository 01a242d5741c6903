import { randomBytes } from 'node:crypto';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { classifyAwsError } from '@ec2-restore/aws-clients';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { classifyStepError, restoreErrorOf } from '@ec2-restore/pipeline';
import { BlockWriteError, DEFAULT_RETRY_POLICY, type RetryPolicy } from '@ec2-restore/snapshot-writers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { accountWithKey, clientsFor, ebsDirectWriter, restorePointPerFile } from '../support/index.ts';

// One retry budget per block: the writer retries a failing PutSnapshotBlock itself, at most
// `maxAttempts` requests per block, with no SDK retries nested inside (its clients are given the SDK's
// standard 4 attempts here, so nesting would show as up to 4x the budget). The proxy answers the
// block's writes InternalServerException (retryable) and counts them per block.

// The writer's default budget (its throttled requests need it: the emulator throttles like EBS, at 1,000
// PutSnapshotBlock per second per snapshot), with a shorter backoff than the default's 20 s ceiling: the
// budget is counted in requests, not time. Its ceiling stays above a second, so that requests throttled
// by the per-second limit get through within the budget.
const POLICY: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 50, maxDelayMs: 2_000 };
const BUDGET = POLICY.maxAttempts;
// The last block: its first write comes after 2047 others, when the new snapshot is long visible. Right
// after StartSnapshot the emulator, like EBS, may answer that the snapshot does not exist; the writer
// retries that by time, outside the budget, and it would show here as one request more.
const BLOCK = 2047;

describe('ebs-direct writer: one retry budget per block', { timeout: 300_000 }, () => {
  const rp = restorePointPerFile([0, 7, BLOCK]);
  // One account, key and proxy for both tests; each test's writes go to a snapshot of their own, and the
  // proxy fails block BLOCK's first `failures` writes of every snapshot.
  let failures = 0;
  let proxy: FaultProxy;
  let world: Awaited<ReturnType<typeof accountWithKey>>;
  beforeAll(async () => {
    world = await accountWithKey();
    const endpoint = await world.aws.ebs.config.endpoint?.();
    proxy = await startFaultProxy({
      target: `${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`,
      faultRate: 0,
      failBlockWrite: (_snapshot, index, attempt) => index === BLOCK && attempt <= failures,
    });
  });
  afterAll(() => proxy?.close());

  /** Writes the restore point through the proxy, block BLOCK failing its first `failing` writes. */
  async function writeThroughFaults(failing: number) {
    failures = failing;
    const snapshotsBefore = new Set(snapshotsWritten());
    const viaProxy = clientsFor(credentialsForAccount(world.account.id), {
      endpoint: proxy.endpoint,
      maxAttempts: 4,
    });
    const writer = ebsDirectWriter(rp, viaProxy, {
      inFlight: 16,
      completionPollMs: 100,
      retryPolicy: POLICY,
    });
    const outcome = await writer
      .writeVolume({
        restorePointId: rp.restorePointId,
        deviceName: '/dev/xvda',
        target: { restoreId: `r-${randomBytes(4).toString('hex')}`, kmsKeyArn: world.keyArn },
      })
      .then(
        (result) => ({ result, error: undefined }),
        (error: Error) => ({ result: undefined, error }),
      );
    // This write's snapshot (the one the proxy saw blocks of for the first time), and its block's writes.
    const snapshots = snapshotsWritten().filter((id) => !snapshotsBefore.has(id));
    const ofBlock = snapshots.map((id) => proxy.counts().blockWrites[`${id}/${BLOCK}`]);
    return { outcome, ofBlock, snapshots };
  }

  /** Snapshots the proxy has seen block writes of. */
  function snapshotsWritten(): string[] {
    return [...new Set(Object.keys(proxy.counts().blockWrites).map((key) => key.split('/')[0]!))];
  }

  it('a block failing every time: BUDGET requests for it, then the write fails naming the block and snapshot', async () => {
    const { outcome, ofBlock, snapshots } = await writeThroughFaults(Number.POSITIVE_INFINITY);
    expect(ofBlock).toEqual([BUDGET]);
    const error = outcome.error as BlockWriteError;
    expect(error).toBeInstanceOf(BlockWriteError);
    expect(error).toMatchObject({ blockIndex: BLOCK, snapshotId: snapshots[0], attempts: BUDGET });
    // Still EBS's error: same name, same classification (retryable, category aws, its request id).
    expect(error.name).toBe('InternalServerException');
    expect((error.cause as Error).message).toBe('An internal error has occurred.');
    const { message: _named, ...classified } = classifyAwsError(error);
    const { message: _own, ...asAws } = classifyAwsError(error.cause);
    expect(classified).toEqual(asAws);
    // What the restore shows once the step gives up: the block and the snapshot, with AWS's code.
    const restoreError = restoreErrorOf(classifyStepError(error), 'snapshot');
    expect(restoreError).toMatchObject({ code: 'aws_error', category: 'aws', step: 'snapshot' });
    expect(restoreError.message).toBe(
      `InternalServerException: Block ${BLOCK} of /dev/xvda could not be written to snapshot ${snapshots[0]} ` +
        `(${BUDGET} attempts): An internal error has occurred.`,
    );
  });

  it('a block failing fewer times than the budget: the write succeeds, one request per failure plus one', async () => {
    const { outcome, ofBlock } = await writeThroughFaults(BUDGET - 2);
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toMatchObject({ blocksWritten: 2048 });
    expect(ofBlock).toEqual([BUDGET - 1]);
    const { Snapshots = [] } = await world.aws.ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [outcome.result?.snapshotId ?? ''] }),
    );
    expect(Snapshots[0]?.State).toBe('completed');
  });
});

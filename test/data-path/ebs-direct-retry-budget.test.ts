import { randomBytes } from 'node:crypto';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { DEFAULT_RETRY_POLICY } from '@ec2-restore/snapshot-writers';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { accountWithKey, clientsFor, ebsDirectWriter, restorePointPerFile } from '../support/index.ts';

// One retry budget per block: the writer retries a failing PutSnapshotBlock itself, at most
// `maxAttempts` requests per block, with no SDK retries nested inside (its clients are given the SDK's
// standard 4 attempts here, so nesting would show as up to 4x the budget). The proxy answers the
// block's writes InternalServerException (retryable) and counts them per block.

// The writer's default budget (its throttled requests need it: the emulator throttles like EBS).
const BUDGET = DEFAULT_RETRY_POLICY.maxAttempts;
const BLOCK = 7;

let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('ebs-direct writer: one retry budget per block', { timeout: 600_000 }, () => {
  const rp = restorePointPerFile([0, BLOCK, 2047]);

  /** Writes the restore point through a proxy failing block BLOCK's first `failures` writes. */
  async function writeThroughFaults(failures: number) {
    const { account, aws, keyArn } = await accountWithKey();
    const endpoint = await aws.ebs.config.endpoint?.();
    proxy = await startFaultProxy({
      target: `${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`,
      faultRate: 0,
      failBlockWrite: (_snapshot, index, attempt) => index === BLOCK && attempt <= failures,
    });
    const viaProxy = clientsFor(credentialsForAccount(account.id), {
      endpoint: proxy.endpoint,
      maxAttempts: 4,
    });
    const writer = ebsDirectWriter(rp, viaProxy, {
      inFlight: 16,
      completionPollMs: 100,
    });
    const outcome = await writer
      .writeVolume({
        restorePointId: rp.restorePointId,
        deviceName: '/dev/xvda',
        target: { restoreId: `r-${randomBytes(4).toString('hex')}`, kmsKeyArn: keyArn },
      })
      .then(
        (result) => ({ result, error: undefined }),
        (error: Error) => ({ result: undefined, error }),
      );
    const writes = Object.entries(proxy.counts().blockWrites);
    const ofBlock = writes.filter(([key]) => key.endsWith(`/${BLOCK}`)).map(([, n]) => n);
    return { aws, outcome, ofBlock };
  }

  it('a block failing every time: BUDGET requests for it, then the write fails', async () => {
    const { outcome, ofBlock } = await writeThroughFaults(Number.POSITIVE_INFINITY);
    // The error is EBS's own ("An internal error has occurred."): it does not name the block yet.
    expect(outcome.error?.name).toBe('InternalServerException');
    expect(ofBlock).toEqual([BUDGET]);
  });

  it('a block failing fewer times than the budget: the write succeeds, one request per failure plus one', async () => {
    const { aws, outcome, ofBlock } = await writeThroughFaults(BUDGET - 2);
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toMatchObject({ blocksWritten: 2048 });
    expect(ofBlock).toEqual([BUDGET - 1]);
    const { Snapshots = [] } = await aws.ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [outcome.result?.snapshotId ?? ''] }),
    );
    expect(Snapshots[0]?.State).toBe('completed');
  });
});

import { getEventListeners } from 'node:events';
import type { AwsClients } from '@ec2-restore/aws-clients';
import { verifySnapshotAgainstRestorePoint } from '@ec2-restore/snapshot-writers';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accountWithKey, restorePointPerFile, writeRootVolume } from '../support/index.ts';

// A snapshot step hands the writer its job's abort signal. Dozens of AWS calls in flight on one signal
// used to leave Node printing "MaxListenersExceededWarning: Possible EventTarget memory leak detected.
// 11 abort listeners added to [AbortSignal]" on every restore. Here any process warning of that kind
// fails the test, and the caller's signal must hold at most one listener of the write, none after it.
describe('abort listeners of the EBS direct writer and read-back', () => {
  const rp = restorePointPerFile([1, 700]);
  let aws: AwsClients;
  let keyArn: string;
  let warnings: Error[];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };

  beforeAll(async () => {
    ({ aws, keyArn } = await accountWithKey());
  });
  beforeEach(() => {
    warnings = [];
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('warning', onWarning);
  });

  const maxListenerWarnings = () => warnings.filter((w) => w.name === 'MaxListenersExceededWarning');

  it('writes and reads back 2,048 blocks, 64 calls in flight, with no listener warning and none left', async () => {
    const caller = new AbortController();
    let mostListeners = 0;
    const sample = (): void => {
      mostListeners = Math.max(mostListeners, getEventListeners(caller.signal, 'abort').length);
    };
    const written = await writeRootVolume(rp, aws, keyArn, {
      inFlight: 64,
      completionPollMs: 100,
      signal: caller.signal,
      onProgress: sample,
    });
    expect(written.blocksWritten).toBe(2048);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);

    const verification = await verifySnapshotAgainstRestorePoint({
      ebs: aws.ebs,
      repository: rp.repository,
      restorePointId: rp.restorePointId,
      deviceName: '/dev/xvda',
      snapshotId: written.snapshotId,
      concurrency: 64,
      signal: caller.signal,
      onProgress: sample,
    });
    expect(verification).toMatchObject({ ok: true, blocksChecked: 2048, mismatchCount: 0 });
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(mostListeners).toBe(1);
    // Node reports the warning on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(maxListenerWarnings()).toEqual([]);
  }, 600_000);

  it('a cancel still stops the write at once, with the caller reason, and leaves no listener', async () => {
    const caller = new AbortController();
    const reason = new Error('restore cancelled');
    const error = await writeRootVolume(rp, aws, keyArn, {
      inFlight: 32,
      signal: caller.signal,
      onProgress: (bytes) => {
        if (bytes >= 64 * 512 * 1024) caller.abort(reason);
      },
    }).catch((e: unknown) => e);
    expect(error).toBe(reason);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(maxListenerWarnings()).toEqual([]);
  }, 600_000);
});

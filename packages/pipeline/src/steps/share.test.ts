import type { EC2Client, Snapshot } from '@aws-sdk/client-ec2';
import type { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { awsError } from '../test-aws-error.ts';
import { refusedForItsState, shareWithTarget } from './share.ts';

// The share of a snapshot still sealing, against EC2 answers given here: a narrow unit test of the
// fallback an AWS refusal would take (the emulator, like AWS's documentation, has no such refusal;
// test/pipeline/seal-during-share.test.ts shows the share made while the snapshot seals, end to end).

const TARGET = '222222222222';
const SNAPSHOT_ID = 'snap-0abc';

/** An EC2 client answering ModifySnapshotAttribute and DescribeSnapshots as `answer` says, logging each call. */
function ec2Answering(answer: (operation: string, n: number) => unknown) {
  const calls: string[] = [];
  const ec2 = {
    send: async (command: { constructor: { name: string } }) => {
      const operation = command.constructor.name.replace(/Command$/, '');
      calls.push(operation);
      return answer(operation, calls.filter((c) => c === operation).length);
    },
  } as unknown as EC2Client;
  return { ec2, calls };
}

const kms = {} as KMSClient;
const incorrectState = () =>
  awsError('IncorrectState', 'The snapshot is in an incorrect state for the request.', 400);
const describing = (State: string) => ({ Snapshots: [{ SnapshotId: SNAPSHOT_ID, State }] });

describe('shareWithTarget: a snapshot still sealing', () => {
  it('shares it at once when EC2 takes the share (one call, no wait)', async () => {
    const { ec2, calls } = ec2Answering(() => ({}));
    await shareWithTarget({ ec2, kms }, { SnapshotId: SNAPSHOT_ID, State: 'pending' }, TARGET);
    expect(calls).toEqual(['ModifySnapshotAttribute']);
  });

  it('refused for its state (IncorrectState): waits for `completed`, then shares it', async () => {
    const { ec2, calls } = ec2Answering((operation, n) => {
      if (operation === 'ModifySnapshotAttribute' && n === 1) throw incorrectState();
      if (operation === 'DescribeSnapshots') return describing(n < 3 ? 'pending' : 'completed');
      return {};
    });
    await shareWithTarget({ ec2, kms }, { SnapshotId: SNAPSHOT_ID, State: 'pending' }, TARGET);
    expect(calls).toEqual([
      'ModifySnapshotAttribute',
      'DescribeSnapshots',
      'DescribeSnapshots',
      'DescribeSnapshots',
      'ModifySnapshotAttribute',
    ]);
  });

  it('refused for its state while `completed`: the refusal is thrown as it is, nothing waited for', async () => {
    const { ec2, calls } = ec2Answering(() => {
      throw incorrectState();
    });
    const snapshot: Snapshot = { SnapshotId: SNAPSHOT_ID, State: 'completed' };
    await expect(shareWithTarget({ ec2, kms }, snapshot, TARGET)).rejects.toMatchObject({
      name: 'IncorrectState',
    });
    expect(calls).toEqual(['ModifySnapshotAttribute']);
  });

  it('another refusal (not the state) is thrown as it is, nothing waited for', async () => {
    const denied = awsError('UnauthorizedOperation', 'not authorized', 403);
    const { ec2, calls } = ec2Answering(() => {
      throw denied;
    });
    await expect(
      shareWithTarget({ ec2, kms }, { SnapshotId: SNAPSHOT_ID, State: 'pending' }, TARGET),
    ).rejects.toBe(denied);
    expect(calls).toEqual(['ModifySnapshotAttribute']);
    expect(refusedForItsState(denied)).toBe(false);
    expect(refusedForItsState(incorrectState())).toBe(true);
  });
});

import type { EC2Client, Snapshot } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { SnapshotNotReadableError, waitUntilSnapshotReadable } from './snapshot-readiness.ts';

const ID = 'snap-0123456789abcdef0';

/** An EC2 client whose DescribeSnapshots answers `answers` in turn (the last one again), counting calls. */
function ec2Answering(answers: Array<Snapshot | Error>) {
  let calls = 0;
  const ec2 = {
    send: async () => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return { Snapshots: [answer] };
    },
  } as unknown as EC2Client;
  return { ec2, calls: () => calls };
}

const notFound = () =>
  Object.assign(new Error(`The snapshot '${ID}' does not exist.`), { name: 'InvalidSnapshot.NotFound' });
const fast = { firstDelayMs: 1, maxDelayMs: 4 };

describe('waitUntilSnapshotReadable', () => {
  it('waits through pending (new id not visible yet, being taken, completing) and answers the completed snapshot', async () => {
    const seen: string[] = [];
    const { ec2, calls } = ec2Answering([
      notFound(),
      { SnapshotId: ID, State: 'pending', Progress: '40%' },
      { SnapshotId: ID, State: 'pending', Progress: '100%' },
      { SnapshotId: ID, State: 'completed', Progress: '100%' },
    ]);
    const snapshot = await waitUntilSnapshotReadable(ec2, ID, {
      ...fast,
      onWaiting: (s) => seen.push(`${s.State} ${s.Progress}`),
    });
    expect(snapshot.State).toBe('completed');
    expect(calls()).toBe(4);
    expect(seen).toEqual(['pending 40%', 'pending 100%']);
  });

  it('fails naming the snapshot, its state and progress when it is still pending at the bound', async () => {
    const { ec2 } = ec2Answering([{ SnapshotId: ID, State: 'pending', Progress: '7%' }]);
    const error = await waitUntilSnapshotReadable(ec2, ID, { ...fast, timeoutMs: 30 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(SnapshotNotReadableError);
    expect(error).toMatchObject({ code: 'snapshot_not_readable', snapshotId: ID, state: 'pending' });
    expect((error as Error).message).toMatch(new RegExp(`^Snapshot ${ID} is still pending \\(7%\\) after`));
  });

  it('fails at once for a snapshot in error (with its StateMessage) or archived', async () => {
    const failed = ec2Answering([{ SnapshotId: ID, State: 'error', StateMessage: 'checksum mismatch' }]);
    await expect(waitUntilSnapshotReadable(failed.ec2, ID, fast)).rejects.toThrow(
      `Snapshot ${ID} is error (checksum mismatch); the EBS direct APIs read only completed snapshots.`,
    );
    expect(failed.calls()).toBe(1);
    const archived = ec2Answering([{ SnapshotId: ID, State: 'completed', StorageTier: 'archive' }]);
    await expect(waitUntilSnapshotReadable(archived.ec2, ID, fast)).rejects.toMatchObject({
      state: 'archived',
      message: expect.stringContaining(`aws ec2 restore-snapshot-tier --snapshot-id ${ID}`),
    });
  });

  it('fails naming the snapshot when EC2 still does not know it after the grace; other errors pass through', async () => {
    const unknown = ec2Answering([notFound()]);
    await expect(
      waitUntilSnapshotReadable(unknown.ec2, ID, { ...fast, notFoundGraceMs: 10 }),
    ).rejects.toMatchObject({
      state: 'not found',
      message: expect.stringContaining(`EC2 does not know snapshot ${ID}`),
    });
    const denied = Object.assign(new Error('not authorized to perform: ec2:DescribeSnapshots'), {
      name: 'UnauthorizedOperation',
    });
    await expect(waitUntilSnapshotReadable(ec2Answering([denied]).ec2, ID, fast)).rejects.toBe(denied);
  });
});

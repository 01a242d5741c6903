import { DescribeSnapshotsCommand, type EC2Client, type Snapshot } from '@aws-sdk/client-ec2';
import { isNewResourceNotFound } from '@ec2-restore/aws-clients';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { pollUntil } from './poll.ts';

const SHORT_WAIT_MS = 30_000;
const RECHECK_MS = 10_000;

/**
 * Waits (bounded, `waitMs`) for a snapshot to complete; a longer wait goes back to the queue
 * (StepPendingError). A snapshot in the `error` state fails the step for good.
 */
export async function waitForSnapshotCompleted(
  ec2: EC2Client,
  snapshotId: string,
  waitMs: number = SHORT_WAIT_MS,
): Promise<Snapshot> {
  const done = await pollUntil(
    async () => {
      let snapshot: Snapshot | undefined;
      try {
        const { Snapshots = [] } = await ec2.send(
          new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }),
        );
        snapshot = Snapshots[0];
      } catch (error) {
        // A new snapshot may not be visible yet (EC2 eventual consistency).
        if (isNewResourceNotFound(error)) return undefined;
        throw error;
      }
      if (snapshot?.State === 'error') {
        throw new PermanentStepError(
          `snapshot ${snapshotId} ended in the error state: ${snapshot.StateMessage ?? ''}`,
          {
            code: 'snapshot_failed',
            category: 'aws',
          },
        );
      }
      return snapshot?.State === 'completed' ? snapshot : undefined;
    },
    { timeoutMs: waitMs, intervalMs: 1000 },
  );
  if (!done) throw new StepPendingError(`snapshot ${snapshotId} to complete`, RECHECK_MS);
  return done;
}

import { DescribeSnapshotsCommand, type EC2Client, type Snapshot } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { classifyAwsError, isNewResourceNotFound } from '@ec2-restore/aws-clients';
import type { ErrorCode } from '@ec2-restore/contracts';
import { PermanentStepError } from '../errors/permanent-step-error.ts';
import { StepPendingError } from '../errors/step-pending-error.ts';
import { pollUntil, quickLooksWithin } from './poll.ts';

const SHORT_WAIT_MS = 30_000;
const RECHECK_MS = 10_000;

/**
 * What a snapshot wait waits for: `completed`; or `sealing`, the snapshot as EC2 shows it now,
 * `pending` or `completed`, for a caller that does not need it completed (the share step waits for
 * that, see share.ts), which looks at once and waits only while the new id answers NotFound.
 */
const UNTIL = {
  // Every caller has just made or sealed the snapshot: it is `pending` now, so the first look waits.
  completed: { states: ['completed'], pauseFirst: true, waitingFor: 'to complete' },
  sealing: { states: ['pending', 'completed'], pauseFirst: false, waitingFor: 'to be visible' },
} as const;

/** Waits for a snapshot to complete (see waitForSnapshot). */
export const waitForSnapshotCompleted = (
  clients: { ec2: EC2Client; kms: KMSClient },
  snapshotId: string,
  waitMs?: number,
): Promise<Snapshot> => waitForSnapshot(clients, snapshotId, 'completed', waitMs);

/**
 * Waits (bounded, `waitMs`) for a snapshot to be as `until` says (UNTIL); a longer wait goes back to
 * the queue (StepPendingError). A snapshot in the `error` state fails the step for good, naming its
 * key when that is the cause (see snapshotFailure).
 */
export async function waitForSnapshot(
  clients: { ec2: EC2Client; kms: KMSClient },
  snapshotId: string,
  untilState: keyof typeof UNTIL,
  waitMs: number = SHORT_WAIT_MS,
): Promise<Snapshot> {
  const until = UNTIL[untilState];
  let failed: Snapshot | undefined;
  const done = await pollUntil(
    async () => {
      let snapshot: Snapshot | undefined;
      try {
        const { Snapshots = [] } = await clients.ec2.send(
          new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }),
        );
        snapshot = Snapshots[0];
      } catch (error) {
        // A new snapshot may not be visible yet (EC2 eventual consistency).
        if (isNewResourceNotFound(error)) return undefined;
        throw error;
      }
      if (snapshot?.State === 'error') failed = snapshot;
      return (until.states as readonly string[]).includes(snapshot?.State ?? '') || failed
        ? snapshot
        : undefined;
    },
    {
      timeoutMs: waitMs,
      intervalMs: 1000,
      pauseFirst: until.pauseFirst,
      quickLooks: quickLooksWithin(clients.ec2, 'DescribeSnapshots'),
    },
  );
  if (failed) throw await snapshotFailure(clients.kms, failed);
  if (!done) throw new StepPendingError(`snapshot ${snapshotId} ${until.waitingFor}`, RECHECK_MS);
  return done;
}

/** What to do about a key in each state that is not `Enabled` (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html). */
function keyStateFix(keyArn: string, state: string): string {
  if (state === 'Disabled') return `enable it (aws kms enable-key --key-id ${keyArn})`;
  if (state === 'PendingDeletion' || state === 'PendingReplicaDeletion') {
    return `cancel its deletion and enable it (aws kms cancel-key-deletion --key-id ${keyArn}; aws kms enable-key --key-id ${keyArn})`;
  }
  return 'wait until it is Enabled or choose another key';
}

/**
 * Why a snapshot ended in `error`. EBS needs the snapshot's KMS key to make it, and a key that became
 * unusable fails every cryptographic use of it at once
 * (https://docs.aws.amazon.com/kms/latest/developerguide/unusable-kms-keys.html); the snapshot's
 * StateMessage often says nothing (it is documented for copies only,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html). So the key is described:
 * not Enabled, not describable or gone, the key is named as the cause with its fix; else the failure
 * is the snapshot's own, with EBS's StateMessage.
 */
export async function snapshotFailure(kms: KMSClient, snapshot: Snapshot): Promise<PermanentStepError> {
  const id = snapshot.SnapshotId ?? '';
  const keyId = snapshot.KmsKeyId;
  const keyFailure = (message: string, code: ErrorCode) =>
    new PermanentStepError(
      `snapshot ${id} ended in the error state: its KMS key ${message}, then restore again`,
      {
        code,
        category: 'kms',
      },
    );
  let unknown = '';
  if (keyId) {
    try {
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
      const arn = KeyMetadata?.Arn ?? keyId;
      const state = KeyMetadata?.KeyState ?? 'unknown';
      if (state !== 'Enabled')
        return keyFailure(`${arn} is ${state}; ${keyStateFix(arn, state)}`, 'kms_key_unusable');
    } catch (error) {
      const classified = classifyAwsError(error);
      if (classified.retryable) throw error;
      if (/AccessDenied/i.test(classified.code)) {
        return keyFailure(
          `${keyId} cannot be used by the worker role (DescribeKey: ${classified.code}); let it use the key (kms:DescribeKey and the key's use in the key policy and the role's IAM policy)`,
          'kms_access_denied',
        );
      }
      if (/NotFound/i.test(classified.code))
        return keyFailure(`${keyId} no longer exists; choose another key`, 'kms_key_not_found');
      unknown = ` (its key ${keyId} could not be described: ${classified.code})`;
    }
  }
  const reason = snapshot.StateMessage ? `: ${snapshot.StateMessage}` : ' (EBS gave no StateMessage)';
  return new PermanentStepError(`snapshot ${id} ended in the error state${reason}${unknown}`, {
    code: 'snapshot_failed',
    category: 'aws',
  });
}

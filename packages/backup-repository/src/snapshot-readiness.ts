import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeSnapshotsCommand, type EC2Client, type Snapshot } from '@aws-sdk/client-ec2';
import { isNewResourceNotFound } from '@ec2-restore/aws-clients';
import { BackupRepositoryError } from './errors.ts';

/** A snapshot the EBS direct APIs cannot read (now or within the wait): its id and what EC2 says of it. */
export class SnapshotNotReadableError extends BackupRepositoryError {
  readonly snapshotId: string;
  readonly state: string;
  constructor(snapshotId: string, state: string, message: string) {
    super('snapshot_not_readable', message);
    this.snapshotId = snapshotId;
    this.state = state;
  }
}

export interface SnapshotReadinessOptions {
  /** Longest wait for `completed`, in ms. @defaultValue 30 minutes */
  timeoutMs?: number;
  /** First pause between two DescribeSnapshots; each next one doubles, up to `maxDelayMs`. @defaultValue 250 */
  firstDelayMs?: number;
  /** @defaultValue 15 s */
  maxDelayMs?: number;
  /** How long InvalidSnapshot.NotFound is taken for a snapshot EC2 does not show yet. @defaultValue 15 s */
  notFoundGraceMs?: number;
  /** Called before each pause with what EC2 said of the snapshot (state, progress). */
  onWaiting?: (snapshot: Snapshot) => void;
  signal?: AbortSignal;
}

const minutes = (ms: number) => `${Math.round(ms / 6000) / 10} min`;

/**
 * Waits until EC2 reports `snapshotId` completed, because the EBS direct APIs read nothing else: "Can a
 * snapshot be accessed using the EBS direct APIs if it has a pending status? No. The snapshot can be
 * accessed only if it has a completed status." (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html),
 * and "You can't use EBS direct APIs with archived snapshots"
 * (https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html). A pending snapshot (being
 * taken, or sealed by CompleteSnapshot and still completing) is polled with a pause that starts short
 * and doubles, within `timeoutMs`. Anything else (error, archived, still pending at the bound, unknown
 * after the grace) throws SnapshotNotReadableError naming the snapshot, its state and what to do.
 */
export async function waitUntilSnapshotReadable(
  ec2: EC2Client,
  snapshotId: string,
  options: SnapshotReadinessOptions = {},
): Promise<Snapshot> {
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const maxDelayMs = options.maxDelayMs ?? 15_000;
  const graceMs = options.notFoundGraceMs ?? 15_000;
  const started = Date.now();
  let delay = options.firstDelayMs ?? 250;
  for (;;) {
    const snapshot = await describe(ec2, snapshotId, Date.now() - started < graceMs, options.signal);
    if (snapshot?.State === 'completed' && snapshot.StorageTier !== 'archive') return snapshot;
    const elapsed = Date.now() - started;
    if (snapshot) {
      refuseUnreadable(snapshot);
      if (elapsed + delay > timeoutMs) {
        throw new SnapshotNotReadableError(
          snapshotId,
          snapshot.State ?? 'unknown',
          `Snapshot ${snapshotId} is still ${snapshot.State} (${snapshot.Progress ?? 'no progress reported'}) after ${minutes(elapsed)}; ` +
            'the EBS direct APIs read only completed snapshots. Run create again once `aws ec2 describe-snapshots` shows it completed.',
        );
      }
      options.onWaiting?.(snapshot);
    }
    await sleep(delay, undefined, { signal: options.signal });
    delay = Math.min(delay * 2, maxDelayMs);
  }
}

/** The snapshot as DescribeSnapshots shows it, or undefined while a NotFound may still be EC2's delay. */
async function describe(
  ec2: EC2Client,
  snapshotId: string,
  inGrace: boolean,
  signal: AbortSignal | undefined,
): Promise<Snapshot | undefined> {
  try {
    const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), {
      abortSignal: signal,
    });
    if (Snapshots[0]) return Snapshots[0];
  } catch (error) {
    if (!isNewResourceNotFound(error)) throw error;
  }
  if (inGrace) return undefined;
  throw new SnapshotNotReadableError(
    snapshotId,
    'not found',
    `EC2 does not know snapshot ${snapshotId} (InvalidSnapshot.NotFound): check the id, the --region, and that the snapshot is yours or shared with this account.`,
  );
}

/** Throws for a snapshot that waiting will not make readable. */
function refuseUnreadable(snapshot: Snapshot): void {
  const id = snapshot.SnapshotId ?? '';
  if (snapshot.StorageTier === 'archive') {
    throw new SnapshotNotReadableError(
      id,
      'archived',
      `Snapshot ${id} is archived; the EBS direct APIs cannot read archived snapshots. Restore it to the standard tier (aws ec2 restore-snapshot-tier --snapshot-id ${id}), then run create again.`,
    );
  }
  if (snapshot.State !== 'pending') {
    throw new SnapshotNotReadableError(
      id,
      snapshot.State ?? 'unknown',
      `Snapshot ${id} is ${snapshot.State}${snapshot.StateMessage ? ` (${snapshot.StateMessage})` : ''}; ` +
        'the EBS direct APIs read only completed snapshots. Choose a completed snapshot of the volume.',
    );
  }
}

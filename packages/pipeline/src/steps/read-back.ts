import type { BackupRepository } from '@ec2-restore/backup-repository';
import type { VerificationFailure } from '@ec2-restore/contracts';
import {
  type VerifySnapshotOptions,
  verifyDeviceAgainstRestorePoint,
  verifySnapshotAgainstRestorePoint,
} from '@ec2-restore/snapshot-writers';
import { PermanentStepError } from '../errors/permanent-step-error.ts';

/** Mismatches spelled out in the error message; the error's `verification` lists up to 100. */
const MESSAGE_BLOCKS = 5;

/** What a read-back found, whichever data path. */
interface ReadBack {
  blocksChecked: number;
  mismatchCount: number;
  mismatches: VerificationFailure['mismatches'];
}

/** What is read back, and where its progress goes: the options both verifiers share. */
interface ReadBackSubject {
  repository: BackupRepository;
  restorePointId: string;
  deviceName: string;
  /** Reports the bytes read back and found equal so far. */
  onProgress: (bytesChecked: number) => void;
  signal?: AbortSignal;
}

/** Fails the step, naming the blocks, when the read-back found any that differ. */
function assertMatches(found: ReadBack, subject: ReadBackSubject, resourceId: string, what: string): void {
  if (found.mismatchCount === 0) return;
  const listed = found.mismatches
    .slice(0, MESSAGE_BLOCKS)
    .map(
      (m) =>
        `block ${m.blockIndex} (expected SHA-256 ${m.expectedSha256}, found ${m.actualSha256 ?? 'no block'})`,
    )
    .join('; ');
  const more = found.mismatchCount > MESSAGE_BLOCKS ? `; ${found.mismatchCount - MESSAGE_BLOCKS} more` : '';
  throw new PermanentStepError(
    `verification failed for ${subject.deviceName}: ${found.mismatchCount} of ${found.blocksChecked} blocks of ${what} ${resourceId} differ from restore point ${subject.restorePointId}: ${listed}${more}. The restore point or the written data changed; check the backup repository and start the restore again.`,
    {
      code: 'verification_failed',
      category: 'aws',
      verification: {
        deviceName: subject.deviceName,
        resourceId,
        restorePointId: subject.restorePointId,
        blocksChecked: found.blocksChecked,
        mismatchCount: found.mismatchCount,
        mismatches: found.mismatches,
      },
    },
  );
}

/** ebs-direct: reads the completed snapshot back with GetSnapshotBlock and compares every block. */
export async function assertSnapshotMatchesRestorePoint(
  ebs: VerifySnapshotOptions['ebs'],
  snapshotId: string,
  subject: ReadBackSubject,
): Promise<void> {
  const found = await verifySnapshotAgainstRestorePoint({ ...subject, ebs, snapshotId });
  assertMatches(found, subject, snapshotId, 'snapshot');
}

/** worker-volume: reads the attached volume back from its device and compares every block. */
export async function assertDeviceMatchesRestorePoint(
  devicePath: string,
  volumeId: string,
  subject: ReadBackSubject,
): Promise<void> {
  const found = await verifyDeviceAgainstRestorePoint({ ...subject, devicePath });
  assertMatches(found, subject, volumeId, 'volume');
}

/**
 * A worker acts only on what the API accepted. The API checks a request (pre-flight) and stores it
 * in the restore record before it adds the flow; a job's data is a copy of parts of that request,
 * kept in Redis where Bull Board (an admin token) or anyone with Redis access can change it. Before
 * a step runs, its job's security-relevant fields are compared with the stored request, and a job
 * that differs is refused: it must not share snapshots with, grant a key to, or create resources
 * in an account, role, key or region the pre-flight never saw.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  type CleanupJobInput,
  GIB,
  JobName,
  type RestoreRequest,
  restoreRequestSchema,
} from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import { PermanentStepError } from '../errors/permanent-step-error.ts';

/** The target fields every job carries, as the restore record says they must be. */
export type AcceptedTarget = Omit<CleanupJobInput, 'sourceAccountId' | 'outcome'>;

/** The target fields of anything that has them, and nothing else; absent optional ones left out. */
export function targetFieldsOf(source: AcceptedTarget): AcceptedTarget {
  const { restoreId, mode, region, targetAccountId, roleArn, externalId } = source;
  return {
    restoreId,
    mode,
    region,
    targetAccountId,
    ...(roleArn ? { roleArn } : {}),
    ...(externalId ? { externalId } : {}),
  };
}

export function acceptedTargetOf(restore: Restore, request: RestoreRequest): AcceptedTarget {
  const { target } = request;
  return targetFieldsOf({
    ...target,
    restoreId: restore.id,
    mode: restore.mode,
    targetAccountId: target.accountId,
  });
}

/** JSON as stored in Redis: `undefined` members gone, so a value and its stored copy compare equal. */
function normalized(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/**
 * The differences between a job's data and the restore it belongs to, one line per field
 * (`share.targetAccountId: the job says "999999999999", the restore was accepted for "222222222222"`);
 * empty when the job is what the API accepted.
 */
export function jobMismatches(name: string, data: unknown, restore: Restore): string[] {
  const parsed = restoreRequestSchema.safeParse(restore.request);
  if (!parsed.success) return [`the restore record of ${restore.id} holds no valid request`];
  const request = parsed.data;
  const job = (data ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  const check = (field: string, accepted: unknown) => {
    const given = normalized(job[field]);
    if (!isDeepStrictEqual(given, normalized(accepted))) {
      problems.push(
        `${name}.${field}: the job says ${JSON.stringify(given) ?? 'nothing'}, the restore was accepted with ${JSON.stringify(normalized(accepted)) ?? 'nothing'}`,
      );
    }
  };

  // A flag a job queued before it existed does not carry counts as false.
  const checkFlag = (field: string, accepted: boolean | undefined) => {
    if ((job[field] ?? false) !== (accepted ?? false)) {
      problems.push(
        `${name}.${field}: the job says ${JSON.stringify(job[field] ?? false)}, the restore was accepted with ${accepted ?? false}`,
      );
    }
  };

  const target = acceptedTargetOf(restore, request);
  for (const [field, value] of Object.entries({
    ...target,
    roleArn: target.roleArn,
    externalId: target.externalId,
  }))
    check(field, value);
  // The source account is the workers' own; same account means it is the target account.
  if (restore.mode === 'same-account') check('sourceAccountId', request.target.accountId);
  else if (job.sourceAccountId === request.target.accountId)
    problems.push(`${name}.sourceAccountId: the job says the target account is its own source account`);

  if (name === JobName.Snapshot) {
    check('restorePointId', request.restorePointId);
    check('targetKmsKeyId', request.target.kmsKeyId);
    check('dataPath', request.dataPath);
    // A verified restore must not lose its read-back (a job queued before `verify` existed has none).
    checkFlag('verify', request.verify);
    // The record knows each selected volume with its size (the progress totals the API stored).
    const volume = (job.volume ?? {}) as { deviceName?: unknown; sizeGiB?: unknown };
    const known = restore.progress.volumes.find((v) => v.deviceName === volume.deviceName);
    if (!known) {
      problems.push(
        `${name}.volume.deviceName: ${JSON.stringify(volume.deviceName)} is not a volume of the restore (${restore.progress.volumes.map((v) => v.deviceName).join(', ')})`,
      );
    } else if (typeof volume.sizeGiB !== 'number' || volume.sizeGiB * GIB !== known.bytesTotal) {
      problems.push(
        `${name}.volume.sizeGiB: the job says ${JSON.stringify(volume.sizeGiB)}, the restore was accepted with ${known.bytesTotal / GIB}`,
      );
    }
    checkFlag('transferKey', request.transferKey);
  } else if (name === JobName.Share) {
    check('kmsGrant', request.kmsGrant);
    checkFlag('transferKey', request.transferKey);
  } else if (name === JobName.Instance) {
    check('restorePointId', request.restorePointId);
    check('targetKmsKeyId', request.target.kmsKeyId);
    check('instance', request.instance);
    check('volumes', request.volumes);
  } else if (name !== JobName.Cleanup) {
    problems.push(`${name}: not a job of the restore flow`);
  }
  return problems;
}

/** Throws the error a refused job fails with (permanent: no retry changes what the job asks). */
export function assertJobAccepted(name: string, data: unknown, restore: Restore): void {
  const problems = jobMismatches(name, data, restore);
  if (problems.length === 0) return;
  throw new PermanentStepError(
    `refused the ${name} job: its data is not what the API accepted after pre-flight (was it edited in Bull Board or Redis?); nothing was done with it. ${problems.join('; ')}`,
    { code: 'job_refused', category: 'permission' },
  );
}

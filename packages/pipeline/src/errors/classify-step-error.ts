import { classifyAwsError } from '@ec2-restore/aws-clients';
import {
  BlockIntegrityError,
  BlockListCorruptError,
  ManifestInvalidError,
  RestorePointNotFoundError,
} from '@ec2-restore/backup-repository';
import type { ErrorCode } from '@ec2-restore/contracts';
import type { RestoreError } from '@ec2-restore/restore-state';
import { PermanentStepError } from './permanent-step-error.ts';
import { RestoreEndedError } from './restore-ended-error.ts';
import { StepPendingError } from './step-pending-error.ts';

function errorCodeFor(category: string, awsCode: string): ErrorCode {
  // AWS's refusal to share a snapshot encrypted with aws/ebs ("Encrypted snapshots with EBS default key cannot be shared").
  if (awsCode === 'OperationNotPermitted') return 'kms_key_not_shareable';
  switch (category) {
    case 'kms':
      return /AccessDenied/i.test(awsCode)
        ? 'kms_access_denied'
        : /NotFound/i.test(awsCode)
          ? 'kms_key_not_found'
          : 'kms_key_unusable';
    case 'permission':
      return 'access_denied';
    case 'quota':
      return 'quota_exceeded';
    case 'throttling':
      return 'throttled';
    default:
      return 'aws_error';
  }
}

/**
 * The one place a step's failure is classified: errors that steer the job
 * (pending, ended, permanent) pass through; an AWS error is either retryable (returned as is, so
 * BullMQ retries with backoff) or permanent (a `PermanentStepError` with category and request id);
 * a restore point that is missing, corrupt or incomplete is permanent too (reading it again gives the
 * same bytes); anything else is a bug and is retried like a transient error, up to the job's attempts.
 */
export function classifyStepError(error: unknown): Error {
  if (
    error instanceof PermanentStepError ||
    error instanceof StepPendingError ||
    error instanceof RestoreEndedError
  ) {
    return error;
  }
  const repositoryCode = restorePointErrorCode(error);
  if (repositoryCode) {
    return new PermanentStepError((error as Error).message, { code: repositoryCode, category: 'input' });
  }
  const looksLikeAws =
    typeof error === 'object' && error !== null && ('$metadata' in error || '$fault' in error);
  if (!looksLikeAws) return error instanceof Error ? error : new Error(String(error));
  const classified = classifyAwsError(error);
  if (classified.retryable) return error as unknown as Error;
  return new PermanentStepError(`${classified.code}: ${classified.message}`, {
    code: errorCodeFor(classified.category, classified.code),
    category: classified.category,
    awsCode: classified.code,
    ...(classified.requestId ? { awsRequestId: classified.requestId } : {}),
  });
}

function restorePointErrorCode(error: unknown): ErrorCode | undefined {
  if (error instanceof RestorePointNotFoundError) return 'restore_point_not_found';
  if (
    error instanceof BlockIntegrityError ||
    error instanceof BlockListCorruptError ||
    error instanceof ManifestInvalidError
  ) {
    return 'restore_point_corrupt';
  }
  return undefined;
}

/** The restore's `error` for a job that failed for good. */
export function restoreErrorOf(error: unknown, step: string): RestoreError {
  if (error instanceof PermanentStepError) {
    return {
      code: error.code,
      message: error.message,
      category: error.category,
      step,
      awsRequestId: error.awsRequestId ?? null,
      ...(error.verification ? { verification: error.verification } : {}),
    };
  }
  const classified = classifyAwsError(error);
  const isAws = typeof error === 'object' && error !== null && '$metadata' in error;
  return {
    code: isAws ? errorCodeFor(classified.category, classified.code) : 'internal_error',
    message: isAws ? `${classified.code}: ${classified.message}` : classified.message,
    category: isAws ? classified.category : 'internal',
    step,
    awsRequestId: classified.requestId ?? null,
  };
}

import { BlockIntegrityError, BlockListCorruptError } from '@ec2-restore/backup-repository';
import { describe, expect, it } from 'vitest';
import { awsError } from '../test-aws-error.ts';
import { classifyStepError, restoreErrorOf } from './classify-step-error.ts';
import { PermanentStepError } from './permanent-step-error.ts';
import { StepPendingError } from './step-pending-error.ts';

describe('classifyStepError', () => {
  it('throttling and 5xx stay plain errors, so BullMQ retries them with backoff', () => {
    const throttled = awsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    expect(classifyStepError(throttled)).toBe(throttled);
    const internal = awsError('InternalError', 'An internal error has occurred', 500);
    expect(classifyStepError(internal)).toBe(internal);
  });

  it('a KMS refusal is permanent, with category kms and the AWS request id', () => {
    const error = classifyStepError(
      awsError('AccessDeniedException', 'User is not authorized to perform kms:CreateGrant', 400, 'req-42'),
    );
    expect(error).toBeInstanceOf(PermanentStepError);
    expect(error).toMatchObject({ category: 'kms', code: 'kms_access_denied', awsRequestId: 'req-42' });
  });

  it('sharing a snapshot of the aws/ebs key is permanent and says the key cannot be shared', () => {
    const error = classifyStepError(
      awsError('OperationNotPermitted', 'Encrypted snapshots with EBS default key cannot be shared', 400),
    );
    expect(error).toMatchObject({ code: 'kms_key_not_shareable' });
  });

  it('a corrupt or missing block fails the restore at once, naming the block and the remedy', () => {
    const corrupt = new BlockIntegrityError({
      restorePointId: 'rp-1',
      deviceName: '/dev/xvda',
      blockIndex: 7,
      expectedSha256: 'a'.repeat(64),
      actualSha256: 'b'.repeat(64),
    });
    const error = classifyStepError(corrupt);
    // Permanent: BullMQ does not retry it (reading the same block again gives the same bytes).
    expect(error).toBeInstanceOf(PermanentStepError);
    expect(restoreErrorOf(error, 'snapshot')).toMatchObject({
      code: 'restore_point_corrupt',
      category: 'input',
      step: 'snapshot',
      message: expect.stringMatching(/block 7 .*pnpm backup verify/),
    });
    const list = classifyStepError(new BlockListCorruptError('rp-1', '/dev/xvdb', 'line 3 is neither'));
    expect(list).toMatchObject({ code: 'restore_point_corrupt', category: 'input' });
  });

  it('steering errors pass through untouched', () => {
    const pending = new StepPendingError('snapshot to complete', 1000);
    expect(classifyStepError(pending)).toBe(pending);
  });

  it('a bug is an internal error in the restore record', () => {
    expect(restoreErrorOf(new TypeError('x is undefined'), 'instance')).toEqual({
      code: 'internal_error',
      message: 'x is undefined',
      category: 'internal',
      step: 'instance',
      awsRequestId: null,
    });
  });
});

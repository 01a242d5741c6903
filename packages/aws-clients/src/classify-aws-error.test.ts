import { describe, expect, it } from 'vitest';
import { classifyAwsError } from './classify-aws-error.ts';

function sdkError(name: string, message: string, httpStatusCode = 400, requestId = 'req-1') {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode, requestId } });
}

describe('classifyAwsError', () => {
  it.each([
    ['RequestLimitExceeded', 'Request limit exceeded.', 503, 'throttling', true],
    ['ThrottlingException', 'Rate exceeded', 400, 'throttling', true],
    ['ConcurrentLimitExceededException', 'the limit for concurrent API requests', 400, 'throttling', true],
    ['InternalError', 'An internal error has occurred', 500, 'aws', true],
    ['ServiceUnavailable', 'Service Unavailable', 503, 'aws', true],
    ['DisabledException', 'arn:aws:kms:eu-west-1:111111111111:key/k is disabled.', 400, 'kms', false],
    ['KMSInvalidStateException', 'key is pending deletion', 400, 'kms', false],
    [
      'AccessDeniedException',
      'User: R is not authorized to perform: kms:DescribeKey on resource: k',
      400,
      'kms',
      false,
    ],
    ['OperationNotPermitted', 'Encrypted snapshots with EBS default key cannot be shared', 400, 'kms', false],
    ['UnauthorizedOperation', 'You are not authorized to perform this operation.', 403, 'permission', false],
    ['AccessDenied', 'not authorized to perform: sts:AssumeRole', 403, 'permission', false],
    ['VolumeLimitExceeded', 'You have exceeded your maximum gp3 storage limit', 400, 'quota', false],
    ['InvalidSubnetID.NotFound', "The subnet ID 'subnet-1' does not exist", 400, 'input', false],
    // A new resource not visible yet (EC2 eventual consistency): another attempt, not bad input.
    ['InvalidVolume.NotFound', "The volume 'vol-1' does not exist.", 400, 'aws', true],
    ['InvalidInstanceID.NotFound', "The instance ID 'i-1' does not exist", 400, 'aws', true],
    ['InvalidSnapshot.NotFound', "The snapshot 'snap-1' does not exist.", 400, 'aws', true],
    ['InvalidAMIID.NotFound', "The image id '[ami-1]' does not exist", 400, 'aws', true],
    ['InvalidParameterValue', 'Value (x) for parameter kmsKeyId is invalid', 400, 'input', false],
    ['IdempotentParameterMismatch', 'token reused', 400, 'aws', false],
  ] as const)('%s → %s', (name, message, status, category, retryable) => {
    const classified = classifyAwsError(sdkError(name, message, status));
    expect(classified).toMatchObject({ code: name, category, retryable, requestId: 'req-1' });
  });

  it('treats dropped connections as retryable', () => {
    const err = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(classifyAwsError(err)).toMatchObject({ code: 'ECONNRESET', category: 'aws', retryable: true });
  });

  it('survives non-errors', () => {
    expect(classifyAwsError('boom')).toMatchObject({
      code: 'UnknownError',
      message: 'boom',
      retryable: false,
    });
  });
});

import { classifyAwsError } from '@ec2-restore/aws-clients';
import { describe, expect, it } from 'vitest';
import { BlockWriteError } from './block-write-error.ts';
import { EbsDirectHttpError } from './snapshot-block-sender.ts';

const where = { snapshotId: 'snap-0123', deviceName: '/dev/sdf', blockIndex: 42, attempts: 10 };

describe('BlockWriteError', () => {
  it.each([
    [
      'throttled',
      new EbsDirectHttpError('RequestThrottledException', 'Rate exceeded', 400, 'req-1', 'ACCOUNT_THROTTLE'),
    ],
    ['refused', new EbsDirectHttpError('AccessDeniedException', 'not authorized', 403, 'req-2')],
    [
      'EC2-style code',
      Object.assign(new Error('Request limit exceeded.'), {
        Code: 'RequestLimitExceeded',
        $metadata: { httpStatusCode: 503 },
      }),
    ],
  ])('names the block and snapshot, and is classified as the AWS error it wraps (%s)', (_case, aws) => {
    const error = new BlockWriteError(aws, where);
    expect(error.message).toBe(
      `Block 42 of /dev/sdf could not be written to snapshot snap-0123 (10 attempts): ${aws.message}`,
    );
    expect(error.name).toBe(aws.name);
    expect(error.cause).toBe(aws);
    const { message: _wrapped, ...classified } = classifyAwsError(error);
    const { message: _original, ...expected } = classifyAwsError(aws);
    expect(classified).toEqual(expected);
  });
});

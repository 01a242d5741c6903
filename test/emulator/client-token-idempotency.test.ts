import { randomUUID } from 'node:crypto';
import { StartSnapshotCommand } from '@aws-sdk/client-ebs';
import {
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { amazonImageId, expectAwsError, newAccount, ZONE } from '../support/index.ts';

// "If you repeat a request with the same client token and the same parameters, Amazon EC2 returns
// the same result ... If you repeat a request with the same client token, but change one or more of
// the parameters (other than the client token), Amazon EC2 returns an IdempotentParameterMismatch
// error" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
// EBS direct StartSnapshot likewise, with ConflictException (HTTP 409) for other parameters
// (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-direct-api-idempotency.html,
// https://docs.aws.amazon.com/ebs/latest/userguide/error-retries.html). CopySnapshot has no ClientToken
// in the EC2 API. Plain moto 5.2.1 ignores ClientToken: every repeat makes one more resource.

const MISMATCH =
  'The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.';

describe('ClientToken idempotency', () => {
  it('CreateVolume: the same token and parameters give the same volume; other parameters IdempotentParameterMismatch', async () => {
    const account = newAccount();
    const token = randomUUID();
    const create = (size: number) =>
      account.aws.ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: size, ClientToken: token }),
      );
    const first = await create(1);
    const again = await create(1);
    expect(again.VolumeId).toBe(first.VolumeId);
    const error = await expectAwsError(create(2), 'IdempotentParameterMismatch', MISMATCH);
    expect(error.$metadata?.httpStatusCode).toBe(400);
    const { Volumes = [] } = await account.aws.ec2.send(new DescribeVolumesCommand({}));
    expect(Volumes.map((v) => v.VolumeId)).toEqual([first.VolumeId]);
  });

  it('RunInstances: a repeated token launches no second instance', async () => {
    const account = newAccount();
    const imageId = await amazonImageId(account.aws.ec2);
    const token = randomUUID();
    const run = (type: 't3.micro' | 't3.small') =>
      account.aws.ec2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: type,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: token,
        }),
      );
    const first = await run('t3.micro');
    const again = await run('t3.micro');
    expect(again.Instances?.[0]?.InstanceId).toBe(first.Instances?.[0]?.InstanceId);
    await expectAwsError(run('t3.small'), 'IdempotentParameterMismatch', MISMATCH);
    const { Reservations = [] } = await account.aws.ec2.send(new DescribeInstancesCommand({}));
    expect(Reservations.flatMap((r) => r.Instances ?? [])).toHaveLength(1);
  });

  it('StartSnapshot: the same token and parameters give the same snapshot; other parameters ConflictException (409)', async () => {
    const account = newAccount();
    const token = randomUUID();
    const start = (size: number) =>
      account.aws.ebs.send(new StartSnapshotCommand({ VolumeSize: size, ClientToken: token, Timeout: 60 }));
    const first = await start(1);
    const again = await start(1);
    expect(again.SnapshotId).toBe(first.SnapshotId);
    const error = await expectAwsError(
      start(2),
      'ConflictException',
      'The request uses the same client token as a previous, but non-identical request.',
    );
    expect(error.$metadata?.httpStatusCode).toBe(409);
    // Another token is another snapshot.
    const other = await account.aws.ebs.send(
      new StartSnapshotCommand({ VolumeSize: 1, ClientToken: randomUUID() }),
    );
    expect(other.SnapshotId).not.toBe(first.SnapshotId);
  });
});

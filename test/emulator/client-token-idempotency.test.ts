import { randomUUID } from 'node:crypto';
import {
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { expectAwsError, newAccount, ZONE } from '../support/index.ts';

// "If you repeat a request with the same client token and the same parameters, Amazon EC2 returns
// the same result ... If you repeat a request with the same client token, but change one or more of
// the parameters (other than the client token), Amazon EC2 returns an IdempotentParameterMismatch
// error" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
// Plain moto 5.2.1 ignores ClientToken: every repeat makes one more resource.

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
    const { Images = [] } = await account.aws.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
    const token = randomUUID();
    const run = (type: 't3.micro' | 't3.small') =>
      account.aws.ec2.send(
        new RunInstancesCommand({
          ImageId: Images[0]!.ImageId!,
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
});

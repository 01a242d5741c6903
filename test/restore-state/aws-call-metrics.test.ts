import { randomUUID } from 'node:crypto';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { RestoreStore, recordAwsCalls } from '@ec2-restore/restore-state';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';

const redis = new Redis(process.env.REDIS_URL as string);
const prefix = `test-${randomUUID()}:`;

afterEach(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

it('counts AWS calls and their error codes by operation, across the emulator', async () => {
  const store = new RestoreStore(redis, { prefix });
  const aws = createAwsClients({
    region: 'eu-west-1',
    credentials: credentialsForAccount(randomAccountId()),
    maxAttempts: 1,
  });
  try {
    recordAwsCalls(aws.sts, store);
    recordAwsCalls(aws.kms, store);
    await aws.sts.send(new GetCallerIdentityCommand({}));
    await aws.sts.send(new GetCallerIdentityCommand({}));
    await expect(aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/does-not-exist' }))).rejects.toThrow();
  } finally {
    aws.destroy();
  }
  // Recording is fire-and-forget: give Redis a moment.
  await expect
    .poll(async () =>
      (await store.readMetrics()).awsCalls.sort((a, b) => a.operation.localeCompare(b.operation)),
    )
    .toEqual([
      { operation: 'KMS.DescribeKey', count: 1 },
      { operation: 'STS.GetCallerIdentity', count: 2 },
    ]);
  expect((await store.readMetrics()).awsErrors).toEqual([
    { operation: 'KMS.DescribeKey', code: 'NotFoundException', count: 1 },
  ]);
});

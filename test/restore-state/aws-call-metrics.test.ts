import { createHash, randomUUID } from 'node:crypto';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { RestoreStore, recordAwsCalls } from '@ec2-restore/restore-state';
import { SnapshotBlockSender } from '@ec2-restore/snapshot-writers';
import { Redis } from 'ioredis';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.ts';

const redis = new Redis(process.env.REDIS_URL as string);
const prefix = `test-${randomUUID()}:`;

afterEach(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
});
afterAll(() => redis.disconnect());

it('counts AWS calls and their error codes by operation, across the emulator', async () => {
  const store = new RestoreStore(redis, { prefix });
  const account = randomAccountId();
  const aws = createAwsClients({
    region: 'eu-west-1',
    credentials: credentialsForAccount(account),
    maxAttempts: 1,
  });
  try {
    recordAwsCalls(aws.sts, store, { accountId: async () => account, region: 'eu-west-1' });
    recordAwsCalls(aws.kms, store, { accountId: account, region: 'eu-west-1' });
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
      { operation: 'KMS.DescribeKey', accountId: account, region: 'eu-west-1', count: 1 },
      { operation: 'STS.GetCallerIdentity', accountId: account, region: 'eu-west-1', count: 2 },
    ]);
  expect((await store.readMetrics()).awsErrors).toEqual([
    {
      operation: 'KMS.DescribeKey',
      code: 'NotFoundException',
      accountId: account,
      region: 'eu-west-1',
      count: 1,
    },
  ]);
  expect((await store.readMetrics()).awsThrottles).toEqual([]);
});

it('counts every throttled attempt, also those the SDK retried to success, by account and region', async () => {
  const store = new RestoreStore(redis, { prefix });
  const account = randomAccountId();
  // Every other EC2 call is throttled by AWS's own RequestLimitExceeded, before it reaches the emulator.
  let n = 0;
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL as string,
    faultRate: 1,
    faults: ['RequestLimitExceeded'],
    eligible: () => n++ % 2 === 0,
  });
  const aws = createAwsClients({
    region: 'eu-west-1',
    endpoint: proxy.endpoint,
    credentials: credentialsForAccount(account),
    maxAttempts: 3,
  });
  try {
    recordAwsCalls(aws.ec2, store, { accountId: account, region: 'eu-west-1' });
    for (let i = 0; i < 3; i++) await aws.ec2.send(new DescribeVolumesCommand({}));
  } finally {
    aws.destroy();
    await proxy.close();
  }
  const injected = proxy.counts().injectedTotal.RequestLimitExceeded;
  expect(injected).toBe(3);
  const where = { operation: 'EC2.DescribeVolumes', accountId: account, region: 'eu-west-1' };
  await expect
    .poll(async () => (await store.readMetrics()).awsThrottles)
    .toEqual([{ ...where, count: injected }]);
  // Three calls, each retried once after its throttle: three calls, no error.
  expect((await store.readMetrics()).awsCalls).toEqual([{ ...where, count: 3 }]);
  expect((await store.readMetrics()).awsErrors).toEqual([]);
});

it("counts the EBS direct writer's PutSnapshotBlock calls, sent beside the SDK, like the SDK's", async () => {
  const store = new RestoreStore(redis, { prefix });
  const account = randomAccountId();
  const aws = createAwsClients({ region: 'eu-west-1', credentials: credentialsForAccount(account) });
  recordAwsCalls(aws.ebs, store, { accountId: account, region: 'eu-west-1' });
  const sender = await SnapshotBlockSender.forClient(aws.ebs, { sockets: 1 });
  try {
    const block = Buffer.alloc(512 * 1024);
    await expect(
      sender.put({
        snapshotId: 'snap-0000000000000dead',
        blockIndex: 0,
        data: block,
        checksumBase64: createHash('sha256').update(block).digest('base64'),
      }),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  } finally {
    sender.close();
    aws.destroy();
  }
  await expect
    .poll(async () => (await store.readMetrics()).awsErrors)
    .toEqual([
      {
        operation: 'EBS.PutSnapshotBlock',
        code: 'ResourceNotFoundException',
        accountId: account,
        region: 'eu-west-1',
        count: 1,
      },
    ]);
});

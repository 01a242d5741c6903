import { randomUUID } from 'node:crypto';
import { CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { attachEc2CallBudget, EC2_CALL_BUDGET_MIDDLEWARE } from '@ec2-restore/aws-budget';
import { type AwsClients, classifyAwsError, createAwsClients } from '@ec2-restore/aws-clients';
import { credentialsForAccount, onceVisible, randomAccountId } from '@ec2-restore/local-aws';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { testEc2Budget } from '../support/index.ts';

const REGION = 'eu-west-1';
let redis: Redis;
const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  redis = new Redis(process.env.REDIS_URL!);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => {
  redis.disconnect();
});

function clientsFor(
  accountId: string,
  options: { endpoint?: string; maxAttempts?: number } = {},
): AwsClients {
  const clients = createAwsClients({
    region: REGION,
    credentials: credentialsForAccount(accountId),
    maxAttempts: options.maxAttempts ?? 4,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  cleanups.push(() => clients.destroy());
  return clients;
}

const createVolume = () => new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 1 });

describe('an EC2 client with the call budget attached', () => {
  it('still works against the emulator, and each call spends from its class in Redis', async () => {
    const accountId = randomAccountId();
    const { ec2 } = clientsFor(accountId);
    const keyPrefix = `test:${randomUUID()}`;
    // AWS's bursts (100 each) with a refill too slow to show: AWS's 5/s and 20/s give back half a token
    // in 100 ms and 25 ms, and drop a bucket refilled to full about a second after its last call, both
    // shorter than a loaded machine can take between a call and the check of its bucket.
    const budget = attachEc2CallBudget(ec2, {
      redis,
      accountId,
      region: REGION,
      keyPrefix,
      limits: { mutating: { perSecond: 0.01 }, nonMutating: { perSecond: 0.01 } },
    });
    // Inside the retry loop (after retryMiddleware), before the request is signed.
    const stack = ec2.middlewareStack.identify();
    const at = stack.indexOf(`${EC2_CALL_BUDGET_MIDDLEWARE} - before httpSigningMiddleware`);
    expect(at).toBeGreaterThan(stack.indexOf('retryMiddleware - finalizeRequest'));
    expect(stack[at + 1]).toMatch(/^httpSigningMiddleware/);

    // The emulator sets up a new account on its first call (seconds); a client without the budget
    // does that, so the buckets below are read within their lifetime (a full bucket is forgotten).
    await clientsFor(accountId).ec2.send(new DescribeVolumesCommand({}));

    const volume = await ec2.send(createVolume());
    // The mutating bucket (100) minus this call.
    expect(Number(await redis.hget(await budget.bucketKey('mutating'), 'tokens'))).toBeCloseTo(99, 0);
    // A new id answers NotFound for a moment: wait for it without the budget, so one describe spends one token.
    await onceVisible(() =>
      clientsFor(accountId).ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] })),
    );
    const described = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
    expect(Number(await redis.hget(await budget.bucketKey('nonMutating'), 'tokens'))).toBeCloseTo(99, 0);
    expect(described.Volumes?.[0]?.VolumeId).toBe(volume.VolumeId);
    expect(budget.stats().calls).toEqual({ mutating: 1, runInstances: 0, nonMutating: 1 });
    expect(await budget.bucketKey('mutating')).toBe(`${keyPrefix}:${accountId}:${REGION}:mutating`);
  });

  it('can learn its account at the first call (STS GetCallerIdentity), once', async () => {
    const accountId = randomAccountId();
    const { ec2, sts } = clientsFor(accountId);
    let lookups = 0;
    const budget = attachEc2CallBudget(ec2, {
      redis,
      region: REGION,
      keyPrefix: `test:${randomUUID()}`,
      // A bucket refilled to full is dropped from Redis ((spent / perSecond) + 1 s after the last call): at
      // AWS's 20/s the three calls' bucket is gone 1.15 s later, which a loaded machine can pass before the
      // check below. A slow refill keeps it there for the check.
      limits: { nonMutating: { perSecond: 0.01 } },
      accountId: async () => {
        lookups++;
        return (await sts.send(new GetCallerIdentityCommand({}))).Account!;
      },
    });
    await Promise.all([1, 2, 3].map(() => ec2.send(new DescribeVolumesCommand({}))));
    expect(lookups).toBe(1);
    expect(await budget.bucketKey('nonMutating')).toContain(`:${accountId}:${REGION}:nonMutating`);
    expect(await redis.exists(await budget.bucketKey('nonMutating'))).toBe(1);

    const wrong = attachEc2CallBudget(clientsFor(accountId).ec2, {
      redis,
      region: REGION,
      accountId: async () => 'arn:aws:iam::1:root',
    });
    await expect(wrong.acquire('DescribeVolumesCommand')).rejects.toThrow(
      'accountId must be the 12-digit AWS account id, got "arn:aws:iam::1:root"',
    );
  });

  it('two clients of the same account and region share one bucket', async () => {
    const accountId = randomAccountId();
    const budget = testEc2Budget(redis, accountId, { burst: 2, perSecond: 4 });
    const first = clientsFor(accountId).ec2;
    const second = clientsFor(accountId).ec2;
    // The emulator sets up a new account on its first call (seconds): do that outside the measurement.
    await first.send(new DescribeVolumesCommand({}));
    // Notes when the budget lets each request go out to AWS.
    const sentAt: number[] = [];
    const acquire = budget.acquire.bind(budget);
    budget.acquire = async (...args) => {
      const granted = await acquire(...args);
      sentAt.push(Date.now());
      return granted;
    };
    attachEc2CallBudget(first, budget);
    attachEc2CallBudget(second, budget);

    const created = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? first : second).send(createVolume())),
    );
    expect(created.every((v) => v.VolumeId?.startsWith('vol-'))).toBe(true);
    expect(sentAt).toHaveLength(10);
    sentAt.sort((a, b) => a - b);
    // 10 calls, 2 at once then 4 per second: the last one leaves 2 s after the first, and no window
    // of w seconds holds more than 2 + 4w of them (100 ms of slack for timers and the event loop, which can delay the
    // first call of a window more than the last).
    expect(sentAt.at(-1)! - sentAt[0]!).toBeGreaterThanOrEqual(1_950);
    for (let i = 0; i < sentAt.length; i++) {
      for (let j = i; j < sentAt.length; j++) {
        expect(j - i + 1).toBeLessThanOrEqual(2 + (4 * (sentAt[j]! - sentAt[i]! + 100)) / 1000);
      }
    }
    expect(budget.stats().waited.mutating).toBe(8);
  });

  it('a call that would wait past maxWaitMs fails at once as throttling, without calling AWS', async () => {
    const accountId = randomAccountId();
    const { ec2 } = clientsFor(accountId, { maxAttempts: 1 });
    const budget = attachEc2CallBudget(ec2, {
      redis,
      accountId,
      region: REGION,
      keyPrefix: `test:${randomUUID()}`,
      limits: { mutating: { burst: 1, perSecond: 0.1 } },
      maxWaitMs: 1_000,
    });
    await ec2.send(createVolume());
    const error = await ec2.send(createVolume()).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ name: 'Ec2CallBudgetTimeoutError', code: 'Throttling' });
    expect((error as Error).message).toMatch(/EC2_BUDGET_MUTATING_BURST\/EC2_BUDGET_MUTATING_PER_SECOND/);
    expect(classifyAwsError(error)).toMatchObject({ category: 'throttling', retryable: true });
    // Only the first volume was made.
    const volumes = await clientsFor(accountId).ec2.send(new DescribeVolumesCommand({}));
    expect(volumes.Volumes).toHaveLength(1);
    expect(budget.stats().calls.mutating).toBe(1);
  });

  it('a RequestLimitExceeded is retried by the SDK with back-off, and the retry spends a token too', async () => {
    // Fault exactly the first CreateVolume attempt: random() < 1 faults, then picks the first fault kind.
    const answers = [0, 0];
    const proxy = await startFaultProxy({
      target: process.env.AWS_ENDPOINT_URL!,
      faultRate: 1,
      faults: ['RequestLimitExceeded'],
      eligible: (action) => action === 'CreateVolume',
      random: () => answers.shift() ?? 1,
    });
    cleanups.push(() => proxy.close());
    const accountId = randomAccountId();
    const { ec2 } = clientsFor(accountId, { endpoint: proxy.endpoint, maxAttempts: 3 });
    const budget = attachEc2CallBudget(ec2, {
      redis,
      accountId,
      region: REGION,
      keyPrefix: `test:${randomUUID()}`,
    });

    const volume = await ec2.send(createVolume());
    expect(volume.VolumeId).toMatch(/^vol-/);
    // Standard retry mode: a second attempt after a back-off delay (base 500 ms for throttling, jittered).
    expect(volume.$metadata.attempts).toBe(2);
    expect(volume.$metadata.totalRetryDelay).toBeGreaterThanOrEqual(0);
    expect(proxy.counts().injected).toEqual({ CreateVolume: { RequestLimitExceeded: 1 } });
    // Both attempts reached AWS's (here: the proxy's) front door, so both spent a token.
    expect(budget.stats().calls.mutating).toBe(2);
  });
});

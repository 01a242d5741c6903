import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { EC2Client } from '@aws-sdk/client-ec2';
import {
  attachEc2CallBudget,
  ec2CallBudgetOf,
  RedisTokenBuckets,
  reserveToken,
  type TokenBucketState,
} from '@ec2-restore/aws-budget';
import { randomAccountId } from '@ec2-restore/local-aws';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const CALLER = fileURLToPath(new URL('./fixtures/budget-caller.ts', import.meta.url));

let redis: Redis;
beforeAll(() => {
  redis = new Redis(process.env.REDIS_URL!);
});
afterAll(() => {
  redis.disconnect();
});

describe('the Lua bucket in Redis', () => {
  it('computes exactly what reserveToken computes, for any sequence of calls', async () => {
    const buckets = new RedisTokenBuckets(redis);
    await fc.assert(
      fc.asyncProperty(
        fc.record({ burst: fc.integer({ min: 1, max: 200 }), perSecond: fc.integer({ min: 1, max: 50 }) }),
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: -50, max: 3_000 }),
            maxWaitMs: fc.integer({ min: 0, max: 5_000 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (limit, steps) => {
          const key = `test:bucket:${randomUUID()}`;
          let model: TokenBucketState | undefined;
          let now = 1_700_000_000_000;
          for (const step of steps) {
            now += step.gapMs;
            const expected = reserveToken(model, now, limit, { maxWaitMs: step.maxWaitMs });
            const actual = await buckets.reserve(key, limit, { maxWaitMs: step.maxWaitMs }, now);
            expect(actual).toEqual({
              granted: expected.granted,
              waitMs: expected.waitMs,
              tokens: expected.state.tokens,
            });
            model = expected.state;
          }
          await redis.del(key);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("uses Redis' clock when no time is given, and forgets a bucket once it would be full again", async () => {
    const buckets = new RedisTokenBuckets(redis);
    const key = `test:bucket:${randomUUID()}`;
    const limit = { burst: 2, perSecond: 10 };
    expect(await buckets.reserve(key, limit)).toMatchObject({ granted: true, waitMs: 0, tokens: 1 });
    expect(await buckets.reserve(key, limit)).toMatchObject({ granted: true, waitMs: 0 });
    const third = await buckets.reserve(key, limit);
    expect(third.granted).toBe(false);
    expect(third.waitMs).toBeGreaterThan(0);
    expect(third.waitMs).toBeLessThanOrEqual(100);
    // Refilling 2 tokens at 10/s takes 200 ms; the key lives at most that plus a second.
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_200);
  });
});

/** A budget-caller process: `ready` once it is loaded, `go()` starts its calls, `sentAt` their times. */
function startCaller(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', CALLER], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
    timeout: 60_000,
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const lines = new Promise<string[]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(out.trim().split('\n'))
        : reject(new Error(`budget-caller exited ${code}: ${out}`)),
    );
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('ready\n')) resolve();
    });
    lines.catch(reject);
  });
  return {
    ready,
    go: () => child.stdin.end('go\n'),
    sentAt: lines.then((all) => JSON.parse(all.at(-1) ?? '') as number[]),
  };
}

describe('one budget shared by two processes', () => {
  it('keeps the combined call rate within the bucket', async () => {
    const burst = 5;
    const perSecond = 20;
    const callsEach = 30;
    const env = {
      ...process.env,
      BUDGET_ACCOUNT_ID: randomAccountId(),
      BUDGET_REGION: 'eu-west-1',
      BUDGET_KEY_PREFIX: `test:${randomUUID()}`,
      BUDGET_BURST: String(burst),
      BUDGET_PER_SECOND: String(perSecond),
      BUDGET_CALLS: String(callsEach),
    };
    // Both processes load, then start calling at the same moment (when told, once both are ready).
    const callers = [startCaller(env), startCaller(env)];
    await Promise.all(callers.map((caller) => caller.ready));
    for (const caller of callers) caller.go();
    const [first, second] = await Promise.all(callers.map((caller) => caller.sentAt));
    expect(first).toHaveLength(callsEach);
    expect(second).toHaveLength(callsEach);

    const all = [...first!, ...second!].sort((a, b) => a - b);
    // Alone, each process would be done after (30 - 5) / 20 = 1.25 s; together they share one bucket.
    // 60 calls through a 5-burst, 20/s bucket: the last one cannot leave before (60 - 5) / 20 = 2.75 s.
    const spanMs = all.at(-1)! - all[0]!;
    expect(spanMs).toBeGreaterThanOrEqual(((2 * callsEach - burst) / perSecond) * 1000 - 50);
    // And in no window did more calls go out than the bucket allows (100 ms of slack: timers and a busy
    // event loop can delay the first call of a window more than the last).
    for (let i = 0; i < all.length; i++) {
      for (let j = i; j < all.length; j++) {
        const widthSeconds = (all[j]! - all[i]! + 100) / 1000;
        expect(j - i + 1).toBeLessThanOrEqual(burst + perSecond * widthSeconds);
      }
    }
    // Without the budget the same 60 calls would all have gone out at once; with it they are spread
    // out near the bucket's rate, not far slower.
    expect(spanMs).toBeLessThan(((2 * callsEach - burst) / perSecond) * 1000 + 1_000);
  });
});

describe('room for a look sooner than needed (hasRoom)', () => {
  it("says yes while the operation's bucket keeps half its burst, and is found from the client", async () => {
    const ec2 = new EC2Client({ region: 'eu-west-1' });
    const budget = attachEc2CallBudget(ec2, {
      redis,
      accountId: randomAccountId(),
      region: 'eu-west-1',
      keyPrefix: `test:room:${randomUUID()}`,
      // Slow refill, so the bucket stays where the calls below leave it for the test's length.
      limits: { nonMutating: { burst: 10, perSecond: 0.01 } },
    });
    expect(ec2CallBudgetOf(ec2)).toBe(budget);
    expect(ec2CallBudgetOf(new EC2Client({ region: 'eu-west-1' }))).toBeUndefined();
    try {
      expect(await budget.hasRoom('DescribeSnapshots')).toBe(true);
      for (let i = 0; i < 5; i++) await budget.acquire('DescribeImages');
      // 5 of 10 left: still half.
      expect(await budget.hasRoom('DescribeSnapshots')).toBe(true);
      await budget.acquire('DescribeInstances');
      expect(await budget.hasRoom('DescribeSnapshots')).toBe(false);
      expect(await budget.hasRoom('DescribeSnapshots', 0.4)).toBe(true);
      // Another class's bucket is untouched.
      expect(await budget.hasRoom('CopySnapshot')).toBe(true);
      // The refill goes by Redis' clock, as bookings do: a host clock an hour ahead makes no room.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_600_000 });
      expect(await budget.hasRoom('DescribeSnapshots')).toBe(false);
    } finally {
      vi.useRealTimers();
      ec2.destroy();
    }
  });
});

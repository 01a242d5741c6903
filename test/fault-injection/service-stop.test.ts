/**
 * How worker processes stop and share background work: a SIGTERM while Redis is gone ends the
 * process within WORKER_STOP_TIMEOUT_SECONDS (it once stayed alive for an hour), and the periodic
 * sweep runs once per interval across instance-worker replicas, not once in each.
 */
import { credentialsForAccount, randomAccountId } from '@ec2-restore/local-aws';
import { afterEach, describe, expect, it } from 'vitest';
import { type DurableRedis, startDurableRedis } from '../../bench/chaos/durable-redis.ts';
import { openPipeline, type Pipeline, startWorker, type WorkerProcess } from '../support/index.ts';

const workers: WorkerProcess[] = [];
let redis: DurableRedis | undefined;
let pipeline: Pipeline | undefined;
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await pipeline?.close();
  pipeline = undefined;
  await redis?.stop();
  redis = undefined;
});

async function until(probe: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!probe() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return probe();
}

function baseEnv(redisUrl: string, queuePrefix: string): Record<string, string> {
  // A fresh account of its own: the sweep looks at nothing of other tests.
  const credentials = credentialsForAccount(randomAccountId());
  return {
    REDIS_URL: redisUrl,
    AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL ?? '',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    QUEUE_PREFIX: queuePrefix,
    STATE_PREFIX: `${queuePrefix}:state:`,
    LOG_LEVEL: 'info',
  };
}

describe('worker stop and background work', () => {
  it('a SIGTERM while Redis is gone ends the worker within WORKER_STOP_TIMEOUT_SECONDS', async () => {
    redis = await startDurableRedis();
    const worker = startWorker('share-worker', {
      ...baseEnv(redis.url, `stop${Date.now()}`),
      WORKER_STOP_TIMEOUT_SECONDS: '3',
    });
    workers.push(worker);
    expect(await until(() => worker.output().includes('worker started'), 30_000), worker.output()).toBe(true);
    await redis.stop();
    redis = undefined;
    await new Promise((r) => setTimeout(r, 1_000));

    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    const exited = await until(
      () => worker.child.exitCode !== null || worker.child.signalCode !== null,
      15_000,
    );
    expect(exited, worker.output()).toBe(true);
    expect(Date.now() - signalled).toBeLessThan(3_000 + 5_000);
    // Either it closed cleanly without Redis (0) or it says why it could not (1); never a hang.
    if (worker.child.exitCode !== 0) {
      expect(worker.child.exitCode).toBe(1);
      expect(worker.output()).toContain('stop failed: exiting with code 1');
    }
  });

  it('two instance-worker replicas sweep once per interval between them', async () => {
    pipeline = openPipeline();
    const env = {
      ...baseEnv(process.env.REDIS_URL ?? '', pipeline.queuePrefix),
      // 1.2 s: a sweep of an empty account takes a fraction of it.
      SWEEP_INTERVAL_MINUTES: '0.02',
    };
    const replicas = [startWorker('instance-worker', env), startWorker('instance-worker', env)];
    workers.push(...replicas);
    const sweeps = () => replicas.map((w) => w.output().split('leftover sweep finished').length - 1);
    const started = () => replicas.every((w) => w.output().includes('worker started'));
    expect(await until(started, 30_000), replicas.map((w) => w.output()).join('\n')).toBe(true);
    const from = sweeps().reduce((a, b) => a + b, 0);
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 9_000));
    const done = sweeps().reduce((a, b) => a + b, 0) - from;
    const intervals = (Date.now() - since) / 1_200;
    // Once per interval in all (not twice: each replica on its own would make about 2 per interval).
    expect(done, replicas.map((w) => w.output()).join('\n')).toBeGreaterThanOrEqual(
      Math.floor(intervals) - 2,
    );
    expect(done).toBeLessThanOrEqual(Math.ceil(intervals) + 1);
    expect(replicas.some((w) => w.output().includes('runs in another replica'))).toBe(true);
  });
});

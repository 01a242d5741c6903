import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '@ec2-restore/local-aws';
import { connectRedis, createRedisConnection, inspectRedisDurability } from '@ec2-restore/redis-config';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A redis-server of this test's own (so its settings can be changed), stopped after the test. */
async function ownRedisServer(
  args: string[],
  port?: number,
): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const chosen = port ?? (await findFreePort());
  const dir = mkdtempSync(join(tmpdir(), 'redis-config-test-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...args],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${chosen}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(stop);
  const probe = await connectRedis(url, 'producer', { timeoutMs: 10_000 });
  probe.disconnect();
  return { url, port: chosen, stop };
}

function track(redis: Redis): Redis {
  cleanups.push(() => redis.disconnect());
  return redis;
}

describe('inspectRedisDurability', () => {
  it('warns about an evicting policy and AOF off, and is silent once both are fixed', async () => {
    const server = await ownRedisServer(['--maxmemory-policy', 'allkeys-lru', '--appendonly', 'no']);
    const redis = track(await connectRedis(server.url, 'producer'));

    const before = await inspectRedisDurability(redis);
    expect(before).toMatchObject({ maxmemoryPolicy: 'allkeys-lru', aofEnabled: false });
    expect(before.warnings).toEqual([
      expect.stringMatching(/maxmemory-policy is allkeys-lru/),
      expect.stringMatching(/AOF persistence is off/),
    ]);

    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'appendonly', 'yes');
    const after = await inspectRedisDurability(redis);
    expect(after).toEqual({ maxmemoryPolicy: 'noeviction', aofEnabled: true, warnings: [] });
  });
});

describe('createRedisConnection', () => {
  it('gives a BullMQ Worker a connection it accepts, and jobs run through it', async () => {
    const url = process.env.REDIS_URL!;
    const name = `test-${randomUUID()}`;
    const queue = new Queue(name, { connection: track(await connectRedis(url, 'producer')) });
    cleanups.push(() => queue.close());
    const worker = new Worker(name, async (job) => job.data.n * 2, {
      connection: track(createRedisConnection(url, 'worker', { connectionName: 'redis-config-test' })),
    });
    cleanups.push(() => worker.close());
    const done = new Promise<number>((resolve) =>
      worker.once('completed', (_job, result: number) => resolve(result)),
    );
    await queue.add('double', { n: 21 });
    expect(await done).toBe(42);
  });

  it('a producer fails at once while Redis is down; a worker waits and carries on once Redis is back', async () => {
    const server = await ownRedisServer(['--appendonly', 'no']);
    const producer = track(await connectRedis(server.url, 'producer'));
    const worker = track(await connectRedis(server.url, 'worker'));
    producer.on('error', () => {});
    worker.on('error', () => {});
    await worker.set('kept', 'no');

    await server.stop();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await expect(producer.get('kept')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1_000);

    // The worker's command is held until Redis answers again (same port), then completes.
    let settled = false;
    const pending = worker.set('kept', 'yes').finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(settled).toBe(false);
    await ownRedisServer(['--appendonly', 'no'], server.port);
    await expect(pending).resolves.toBe('OK');
    expect(await worker.get('kept')).toBe('yes');
  });

  it('says which URL is wrong', async () => {
    expect(() => createRedisConnection('localhost:6379', 'worker')).toThrow(/REDIS_URL=.*redis:\/\//);
    const port = await findFreePort();
    await expect(connectRedis(`redis://127.0.0.1:${port}`, 'producer', { timeoutMs: 500 })).rejects.toThrow(
      `Redis at redis://127.0.0.1:${port} did not answer within 500 ms`,
    );
  });
});

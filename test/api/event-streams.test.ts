import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiMetrics, createApiRedis, createApp, createLogger } from '@ec2-restore/api';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { findFreePort } from '@ec2-restore/local-aws';
import { RestoreStore } from '@ec2-restore/restore-state';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiHarness, startApi, TOKEN } from '../support/index.ts';
import { readEventStream } from './sse.ts';

const request = {
  restorePointId: 'rp-1',
  target: { accountId: '333333333333', region: 'eu-west-1', kmsKeyId: 'alias/restore' },
};

async function storedRestore(store: RestoreStore) {
  const id = randomUUID();
  await store.create({ id, mode: 'same-account', request, steps: ['instance'] });
  return id;
}

/** The running instance step fails, and with it the restore (its stream's end event). */
async function failInstanceStep(store: RestoreStore, id: string) {
  await store.finishStep(id, 'instance', 'failed');
  await store.fail(id, {
    code: 'aws_error',
    message: 'x',
    category: 'aws',
    step: 'instance',
    awsRequestId: null,
  });
}

async function finish(store: RestoreStore, id: string) {
  await store.startStep(id, 'instance');
  await failInstanceStep(store, id);
}

/** Connections Redis lists under the event reader's name. */
async function eventReaders(redis: Redis): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(' name=ec2-restore-events ')).length;
}

// A Redis of the file's own: the first tests count the connections Redis lists (other test files may
// run at once on the run's Redis), the others restart and freeze it.
let redis: OwnRedis;
beforeAll(async () => {
  redis = await ownRedis();
});
afterAll(async () => {
  await redis?.dispose();
});

describe('event streams: one shared Redis reader, capped per token and per process', () => {
  const OTHER = `other-${randomUUID()}`;
  let api: ApiHarness;
  let admin: Redis;

  beforeAll(async () => {
    api = await startApi({
      redisUrl: redis.url,
      apiTokens: [TOKEN, { token: OTHER, role: 'read' }],
      limits: { maxEventStreamsPerToken: 25, maxEventStreams: 30 },
    });
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await api?.close();
  });

  it('25 streams on two restores use one Redis connection, and each gets its events and the end', async () => {
    const [a, b] = [await storedRestore(api.store), await storedRestore(api.store)];
    const before = await eventReaders(admin);
    const open = async (id: string) => {
      const res = await api.call(`/v1/restores/${id}/events`);
      expect(res.status).toBe(200);
      // Wrapped, so awaiting `open` does not wait for the stream's end.
      return { events: readEventStream(res, 20_000) };
    };
    const readings: Promise<unknown[]>[] = [];
    for (let i = 0; i < 25; i++) readings.push((await open(i % 2 ? a : b)).events);
    expect(api.store.subscriptionCount).toBe(25);
    expect((await eventReaders(admin)) - before).toBe(1);
    await finish(api.store, a);
    await finish(api.store, b);
    const results = (await Promise.all(readings)) as Awaited<ReturnType<typeof readEventStream>>[];
    for (const events of results) {
      expect(events.map((e) => e.event)).toEqual(['step', 'status', 'step', 'status', 'end']);
      expect(events.at(-1)?.data).toMatchObject({ status: 'failed' });
    }
    await expect.poll(() => api.store.subscriptionCount).toBe(0);
  });

  it('one stream past the per-token cap, then past the process cap, is 429 with Retry-After; a closed stream frees its slot', async () => {
    const id = await storedRestore(api.store);
    const controllers: AbortController[] = [];
    const openAs = async (token: string) => {
      const controller = new AbortController();
      const res = await fetch(`${api.baseUrl}/v1/restores/${id}/events`, {
        headers: { authorization: `Bearer ${token}` },
        signal: controller.signal,
      });
      controllers.push(controller);
      return res;
    };
    try {
      for (let i = 0; i < 25; i++) expect((await openAs(TOKEN)).status).toBe(200);
      const perToken = await openAs(TOKEN);
      expect(perToken.status).toBe(429);
      expect(perToken.headers.get('retry-after')).toBe('10');
      const perTokenBody = (await perToken.json()) as { error: { code: string; message: string } };
      expect(perTokenBody.error.code).toBe('rate_limited');
      expect(perTokenBody.error.message).toContain('API_MAX_EVENT_STREAMS_PER_TOKEN=25');

      for (let i = 0; i < 5; i++) expect((await openAs(OTHER)).status).toBe(200);
      const global = await openAs(OTHER);
      expect(global.status).toBe(429);
      expect(((await global.json()) as { error: { message: string } }).error.message).toContain(
        'API_MAX_EVENT_STREAMS=30',
      );

      controllers.shift()?.abort();
      await expect.poll(() => api.store.subscriptionCount).toBe(29);
      expect((await openAs(OTHER)).status).toBe(200);
    } finally {
      for (const controller of controllers) controller.abort();
    }
    await expect.poll(() => api.store.subscriptionCount).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// A Redis of the test's own (AOF on, so a restart keeps the streams), restarted on the same port.

interface OwnRedis {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** Stops the server for good and removes its folder. */
  dispose(): Promise<void>;
}

async function ownRedis(): Promise<OwnRedis> {
  const port = await findFreePort();
  const dir = await mkdtemp(join(tmpdir(), 'ec2r-redis-restart-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const self: OwnRedis = {
    url,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''],
        { stdio: 'ignore' },
      );
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await probe.connect();
          await probe.ping();
          break;
        } catch {
          if (Date.now() > deadline) throw new Error('redis-server did not start');
          probe.disconnect();
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      probe.disconnect();
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
    signal(signal) {
      child?.kill(signal);
    },
    // Called from the suite's afterAll: a hook registered from inside beforeAll never ran, and every
    // run left this redis-server behind.
    async dispose() {
      child?.kill('SIGCONT');
      await self.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}

describe('event streams and data routes across a Redis restart or freeze', () => {
  let writer: Redis;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    writer = new Redis(redis.url, { retryStrategy: () => 100, maxRetriesPerRequest: null });
    writer.on('error', () => {});
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });
  afterAll(() => {
    writer?.disconnect();
  });

  async function api(options: { outageGraceMs: number; redisTimeoutMs?: number }) {
    const logLines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
    const command = createApiRedis(redis.url, { timeoutMs: options.redisTimeoutMs ?? 3000, logger });
    const prefix = `t-${randomUUID()}:`;
    const store = new RestoreStore(command, {
      prefix,
      events: { outageGraceMs: options.outageGraceMs, blockMs: 500 },
    });
    const app = createApp({
      store,
      redis: command,
      planner: { plan: () => Promise.reject(new Error('not used')) },
      launcher: { start: () => Promise.reject(new Error('not used')) },
      repository: openBackupRepository('/nonexistent-repository'),
      queues: [],
      apiTokens: ['restart-token'],
      logger,
      metrics: new ApiMetrics(store),
      limits: { redisTimeoutMs: options.redisTimeoutMs ?? 3000 },
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.closeSubscriptions();
      command.disconnect();
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const writerStore = new RestoreStore(writer, { prefix });
    return {
      store: writerStore,
      logs: () => logLines.join(''),
      get: (path: string, signal?: AbortSignal) =>
        fetch(`${base}${path}`, {
          headers: { authorization: 'Bearer restart-token' },
          ...(signal ? { signal } : {}),
        }),
    };
  }

  it('a stream open across a Redis restart resumes and delivers every later event and the end; no unhandled ioredis error', async () => {
    const consoleError = vi.spyOn(console, 'error');
    try {
      const { store, get } = await api({ outageGraceMs: 60_000 });
      const id = await storedRestore(store);
      const res = await get(`/v1/restores/${id}/events`);
      expect(res.status).toBe(200);
      const reading = readEventStream(res, 40_000);
      await store.startStep(id, 'instance');
      await new Promise((r) => setTimeout(r, 700));

      await redis.stop();
      await new Promise((r) => setTimeout(r, 1500));
      await redis.start();

      await failInstanceStep(store, id);
      const events = await reading;
      expect(events.map((e) => e.event)).toEqual(['step', 'status', 'step', 'status', 'end']);
      const printed = consoleError.mock.calls.map((call) => String(call[0])).join('\n');
      expect(printed).not.toContain('Unhandled error event');
    } finally {
      consoleError.mockRestore();
    }
  });

  it('a Redis outage longer than the grace ends the stream with an error event the client can act on', async () => {
    const { store, get, logs } = await api({ outageGraceMs: 1500 });
    const id = await storedRestore(store);
    const res = await get(`/v1/restores/${id}/events`);
    expect(res.status).toBe(200);
    const reading = readEventStream(res, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    await redis.stop();
    try {
      const events = await reading;
      const last = events.at(-1);
      expect(last?.event).toBe('error');
      expect(last?.data).toMatchObject({ code: 'service_unavailable', retryable: true });
      expect(String((last?.data as { message?: string } | undefined)?.message)).toContain('Last-Event-ID');
      expect(logs()).toContain('event stream ended: redis unavailable');
    } finally {
      await redis.start();
    }
  });

  it('a frozen Redis makes data routes answer 503 within the deadline, not hang', async () => {
    const { get } = await api({ outageGraceMs: 60_000, redisTimeoutMs: 800 });
    expect((await get('/v1/restores')).status).toBe(200);
    redis.signal('SIGSTOP');
    try {
      for (const path of [
        '/v1/restores',
        `/v1/restores/${randomUUID()}`,
        `/v1/restores/${randomUUID()}/events`,
      ]) {
        const started = Date.now();
        const res = await get(path, AbortSignal.timeout(10_000));
        expect(res.status, path).toBe(503);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
        expect(Date.now() - started, path).toBeLessThan(5_000);
      }
    } finally {
      redis.signal('SIGCONT');
    }
  });
});

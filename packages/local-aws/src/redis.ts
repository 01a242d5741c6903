import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  commandExists,
  findFreePort,
  spawnTiedToParent,
  stopProcess,
  tailOf,
  waitUntil,
} from './process-utils.ts';

export interface RunningRedis {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  /** How it was provided: the caller's REDIS_URL, a testcontainers container, or a local redis-server. */
  kind: 'external' | 'container' | 'redis-server';
  /** Stops what this call started (nothing for `external`); idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /**
   * Use this Redis instead of starting one.
   * @defaultValue `process.env.REDIS_URL`
   */
  url?: string;
  /**
   * Keep data on disk (AOF, fsync every second) in this folder. Tests leave it unset: an in-memory server
   * in a temporary folder that is removed on stop.
   */
  dataDir?: string;
  /**
   * Try testcontainers first when a Docker engine answers.
   * @defaultValue true
   */
  preferContainer?: boolean;
}

/**
 * Redis for tests and the embedded default: REDIS_URL when set; else a testcontainers Redis when a
 * Docker engine answers; else a `redis-server` process on a free loopback port, tied to this process so
 * it never outlives it.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const external = options.url ?? process.env.REDIS_URL;
  if (external) {
    await assertRedisAnswers(external);
    return { url: external, kind: 'external', stop: async () => {} };
  }
  if ((options.preferContainer ?? true) && !options.dataDir && (await dockerEngineAnswers())) {
    try {
      return await startRedisContainer();
    } catch {
      // fall through to a local redis-server
    }
  }
  return await startRedisServer(options.dataDir);
}

async function assertRedisAnswers(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(
      `REDIS_URL=${url} does not answer PING (${(error as Error).message}); start Redis or unset REDIS_URL`,
    );
  } finally {
    client.disconnect();
  }
}

async function dockerEngineAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !(await import('node:fs')).existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startRedisContainer(): Promise<RunningRedis> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  let stopped = false;
  return {
    url: container.getConnectionUrl(),
    kind: 'container',
    async stop() {
      if (stopped) return;
      stopped = true;
      await container.stop();
    },
  };
}

async function startRedisServer(dataDir?: string): Promise<RunningRedis> {
  if (!commandExists('redis-server')) {
    throw new Error(
      'redis-server not found: install it (`apt-get install -y redis-server`, `brew install redis`), ' +
        'or set REDIS_URL to a running Redis',
    );
  }
  const port = await findFreePort();
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'ec2-restore-redis-'));
  const persistence = dataDir
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '']
    : ['--appendonly', 'no', '--save', ''];
  const child = spawnTiedToParent('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--maxmemory-policy',
    'noeviction',
    ...persistence,
  ]);
  const tail = tailOf(child);
  const url = `redis://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => {
        const client = new Redis(url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => {});
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          client.disconnect();
        }
      },
      { timeoutMs: 15_000, child, what: 'redis-server' },
    );
  } catch (error) {
    await stopProcess(child);
    throw new Error(`${(error as Error).message}\n${tail()}`);
  }
  let stopped = false;
  return {
    url,
    kind: 'redis-server',
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopProcess(child);
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

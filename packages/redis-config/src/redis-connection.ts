import { Redis, type RedisOptions } from 'ioredis';

/**
 * - `worker`: BullMQ Workers (and QueueEvents) sit in blocking commands and must wait out a Redis
 *   outage rather than fail: BullMQ requires `maxRetriesPerRequest: null` for them
 *   (https://docs.bullmq.io/guide/going-to-production#maxretriesperrequest).
 * - `producer`: the API adding flows and reading restores answers HTTP requests, so a Redis outage must
 *   fail the request at once (a 503) instead of holding it until Redis is back:
 *   `enableOfflineQueue: false` (https://docs.bullmq.io/patterns/failing-fast-when-redis-is-down).
 */
export type RedisConnectionRole = 'worker' | 'producer';

/** Reconnect forever, backing off from 1 s to 20 s (BullMQ's own default strategy). */
const reconnectDelay = (attempt: number): number => Math.max(Math.min(Math.exp(attempt), 20_000), 1_000);

/** The ioredis options for a role (see RedisConnectionRole). */
export function redisConnectionOptions(role: RedisConnectionRole): RedisOptions {
  switch (role) {
    case 'worker':
      return { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: reconnectDelay };
    case 'producer':
      return {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        enableReadyCheck: true,
        retryStrategy: reconnectDelay,
      };
    default:
      throw new Error(`role must be "worker" or "producer", got ${JSON.stringify(role)}`);
  }
}

export interface CreateRedisConnectionOptions {
  /** Shown by CLIENT LIST, so an operator sees which service holds a connection, e.g. `snapshot-worker`. */
  connectionName?: string;
}

/**
 * An ioredis connection to `url` with the options BullMQ wants for `role`. It connects in the
 * background; a `producer` connection refuses commands until it is ready, so await connectRedis (or
 * the `ready` event) before serving requests.
 */
export function createRedisConnection(
  url: string,
  role: RedisConnectionRole,
  options: CreateRedisConnectionOptions = {},
): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(
      `REDIS_URL=${JSON.stringify(url)} is not a URL; use redis://host:6379 or rediss://host:6380`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`REDIS_URL=${url} must start with redis:// or rediss:// (TLS), not ${parsed.protocol}//`);
  }
  return new Redis(url, {
    ...redisConnectionOptions(role),
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  });
}

/**
 * createRedisConnection, then waits until Redis answers; fails with a message naming the URL after
 * `timeoutMs` (the connection keeps no retry loop behind it then).
 */
export async function connectRedis(
  url: string,
  role: RedisConnectionRole,
  options: CreateRedisConnectionOptions & { timeoutMs?: number } = {},
): Promise<Redis> {
  const redis = createRedisConnection(url, role, options);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let lastError = '';
  const onError = (error: Error) => {
    lastError = error.message;
  };
  redis.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      if (redis.status === 'ready') return resolve();
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `Redis at ${url} did not answer within ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}: ` +
                'start Redis or set REDIS_URL to a running one',
            ),
          ),
        timeoutMs,
      );
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return redis;
  } catch (error) {
    redis.disconnect();
    throw error;
  } finally {
    redis.off('error', onError);
  }
}

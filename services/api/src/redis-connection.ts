import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The API's command connection to Redis. Every command has a deadline (`commandTimeout`), so a
 * Redis that accepts connections but does not answer (frozen, overloaded, a network that drops
 * packets) fails a request with 503 after `timeoutMs` instead of holding it open; errors are
 * logged, never printed as ioredis' "Unhandled error event".
 */
export function createApiRedis(url: string, options: { timeoutMs: number; logger: Logger }): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 3,
    commandTimeout: options.timeoutMs,
    connectionName: 'ec2-restore-api',
  });
  let reported = false;
  redis.on('error', (err: Error) => {
    // One line per outage, not one per reconnect attempt.
    if (!reported) options.logger.warn({ err: err.message }, 'redis connection error');
    reported = true;
  });
  redis.on('ready', () => {
    reported = false;
  });
  return redis;
}

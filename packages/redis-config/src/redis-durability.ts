import type { Redis } from 'ioredis';

/**
 * What ec2-restore needs from the Redis it is given, checked at start-up:
 * - `maxmemory-policy noeviction`: BullMQ "cannot work properly if Redis evicts keys arbitrarily", and
 *   noeviction is "the only setting that guarantees the correct behavior of the queues"
 *   (https://docs.bullmq.io/guide/going-to-production#max-memory-policy). An evicted job or restore
 *   record is a restore that silently stops.
 * - AOF persistence (`appendonly yes`, fsync every second is enough, same page): without it a Redis
 *   restart loses every accepted restore and queued job since the last RDB snapshot, or all of them.
 * INFO is read rather than CONFIG GET: managed Redis services (ElastiCache, Memorystore) often disable
 * CONFIG but answer INFO.
 */

export interface RedisDurability {
  /** `maxmemory_policy` from INFO memory; undefined when Redis did not say. */
  maxmemoryPolicy?: string;
  /** `aof_enabled` from INFO persistence; undefined when Redis did not say. */
  aofEnabled?: boolean;
  /** One sentence per problem, saying what is wrong, what it costs and how to fix it. Empty: all good. */
  warnings: string[];
}

/** The `key:value` lines of an INFO reply. */
export function parseRedisInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

/** The warnings for a Redis with these settings (see the top of this file). */
export function durabilityWarnings(settings: { maxmemoryPolicy?: string; aofEnabled?: boolean }): string[] {
  const warnings: string[] = [];
  if (settings.maxmemoryPolicy === undefined) {
    warnings.push(
      'Redis did not report its maxmemory-policy (INFO memory): make sure it is noeviction, or queued ' +
        'restores may be evicted when memory runs short',
    );
  } else if (settings.maxmemoryPolicy !== 'noeviction') {
    warnings.push(
      `Redis maxmemory-policy is ${settings.maxmemoryPolicy}: it may evict queued jobs and restore records ` +
        'when memory runs short; set `maxmemory-policy noeviction` (BullMQ requires it: ' +
        'https://docs.bullmq.io/guide/going-to-production#max-memory-policy)',
    );
  }
  if (settings.aofEnabled === undefined) {
    warnings.push(
      'Redis did not report whether AOF persistence is on (INFO persistence): without it a Redis ' +
        'restart loses accepted restores; set `appendonly yes`',
    );
  } else if (!settings.aofEnabled) {
    warnings.push(
      'Redis AOF persistence is off: a Redis restart loses accepted restores and queued jobs; set ' +
        '`appendonly yes` and `appendfsync everysec` (https://docs.bullmq.io/guide/going-to-production#persistence)',
    );
  }
  return warnings;
}

/** Reads the Redis's eviction policy and persistence and says what is unsafe for ec2-restore. */
export async function inspectRedisDurability(redis: Redis): Promise<RedisDurability> {
  const memory = parseRedisInfo(await redis.info('memory'));
  const persistence = parseRedisInfo(await redis.info('persistence'));
  const maxmemoryPolicy = memory.maxmemory_policy;
  const aofEnabled = persistence.aof_enabled === undefined ? undefined : persistence.aof_enabled === '1';
  const settings = {
    ...(maxmemoryPolicy !== undefined ? { maxmemoryPolicy } : {}),
    ...(aofEnabled !== undefined ? { aofEnabled } : {}),
  };
  return { ...settings, warnings: durabilityWarnings(settings) };
}

import { describe, expect, it } from 'vitest';
import { durabilityWarnings, parseRedisInfo } from './redis-durability.ts';

describe('parseRedisInfo', () => {
  it('reads key:value lines and skips section headers', () => {
    const info =
      '# Memory\r\nused_memory:1024\r\nmaxmemory_policy:allkeys-lru\r\n\r\n# Persistence\r\naof_enabled:0\r\n';
    expect(parseRedisInfo(info)).toEqual({
      used_memory: '1024',
      maxmemory_policy: 'allkeys-lru',
      aof_enabled: '0',
    });
  });
});

describe('durabilityWarnings', () => {
  it('is silent for noeviction with AOF on', () => {
    expect(durabilityWarnings({ maxmemoryPolicy: 'noeviction', aofEnabled: true })).toEqual([]);
  });

  it('names an evicting policy and the fix', () => {
    const [warning, ...rest] = durabilityWarnings({ maxmemoryPolicy: 'volatile-lru', aofEnabled: true });
    expect(rest).toEqual([]);
    expect(warning).toMatch(/maxmemory-policy is volatile-lru.*set `maxmemory-policy noeviction`/);
  });

  it('says AOF is off and how to turn it on', () => {
    expect(durabilityWarnings({ maxmemoryPolicy: 'noeviction', aofEnabled: false })).toEqual([
      expect.stringMatching(/AOF persistence is off.*`appendonly yes`/),
    ]);
  });

  it('warns when Redis does not report a setting instead of assuming it is safe', () => {
    expect(durabilityWarnings({})).toHaveLength(2);
  });
});

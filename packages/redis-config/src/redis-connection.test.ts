import { describe, expect, it } from 'vitest';
import { redisConnectionOptions } from './redis-connection.ts';

describe('redisConnectionOptions', () => {
  it('gives workers no per-command retry limit (BullMQ requires it) and producers a fail-fast connection', () => {
    expect(redisConnectionOptions('worker')).toMatchObject({ maxRetriesPerRequest: null });
    expect(redisConnectionOptions('worker').enableOfflineQueue).toBeUndefined();
    expect(redisConnectionOptions('producer')).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
  });

  it('backs off reconnects from 1 s up to 20 s', () => {
    const delay = redisConnectionOptions('worker').retryStrategy!;
    expect([1, 5, 8, 10, 50].map((n) => delay(n))).toEqual([1_000, 1_000, Math.exp(8), 20_000, 20_000]);
  });
});

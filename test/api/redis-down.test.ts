import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ApiMetrics, createApp, createLogger, type RestorePlanner } from '@ec2-restore/api';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { findFreePort } from '@ec2-restore/local-aws';
import { RestoreStore } from '@ec2-restore/restore-state';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';

it('answers 503 service_unavailable, not 500, while Redis is unreachable', async () => {
  // A port nothing listens on: a real connection refused, not a fake client.
  const port = await findFreePort();
  const redis = new Redis(`redis://127.0.0.1:${port}`, {
    maxRetriesPerRequest: 0,
    retryStrategy: () => 200,
    lazyConnect: true,
  });
  redis.on('error', () => {});
  const store = new RestoreStore(redis);
  const notReached: RestorePlanner = {
    plan: () => Promise.reject(new Error('the planner is not reached in this test')),
  };
  const app = createApp({
    store,
    redis,
    planner: notReached,
    launcher: { start: () => Promise.reject(new Error('not reached')) },
    repository: openBackupRepository('/nonexistent-repository'),
    queues: [],
    apiTokens: ['token-for-redis-down'],
    logger: createLogger('silent'),
    metrics: new ApiMetrics(store),
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const headers = { authorization: 'Bearer token-for-redis-down' };
  try {
    for (const path of ['/v1/restores', '/v1/restores/abc', '/readyz']) {
      const res = await fetch(`${base}${path}`, { headers });
      expect(res.status, path).toBe(503);
      const body = (await res.json()) as { error: { code: string; category: string } };
      expect(body.error).toMatchObject({ code: 'service_unavailable', category: 'internal' });
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  } finally {
    server.closeAllConnections();
    server.close();
    redis.disconnect();
  }
});

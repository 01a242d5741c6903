import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPortOpen, startRedis } from '@ec2-restore/local-aws';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('startRedis', () => {
  it('uses REDIS_URL when given and stops nothing', async () => {
    const given = process.env.REDIS_URL!;
    const redis = await startRedis({ url: given });
    expect(redis).toMatchObject({ url: given, kind: 'external' });
    await redis.stop();
    expect(await isPortOpen(portOf(given))).toBe(true);
  });

  it('refuses a REDIS_URL that does not answer, naming the variable', async () => {
    await expect(startRedis({ url: 'redis://127.0.0.1:1' })).rejects.toThrow(
      /REDIS_URL=redis:\/\/127.0.0.1:1/,
    );
  });

  it('starts two private servers at once on different ports and stops them', async () => {
    const [a, b] = await Promise.all([
      startRedis({ url: '', preferContainer: false }),
      startRedis({ url: '', preferContainer: false }),
    ]);
    expect(a.kind).toBe('redis-server');
    expect(a.url).not.toBe(b.url);
    const clientA = new Redis(a.url);
    const clientB = new Redis(b.url);
    await clientA.set('k', 'v');
    expect(await clientB.get('k')).toBeNull();
    clientA.disconnect();
    clientB.disconnect();
    await Promise.all([a.stop(), b.stop()]);
    expect(await isPortOpen(portOf(a.url))).toBe(false);
    expect(await isPortOpen(portOf(b.url))).toBe(false);
  });

  it('keeps an append-only file in dataDir for durability', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-aof-'));
    try {
      const redis = await startRedis({ url: '', dataDir: dir });
      const client = new Redis(redis.url);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      await client.set('survives', 'restart');
      client.disconnect();
      await redis.stop();
      expect(existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('appendonly'))).toBe(true);
      const again = await startRedis({ url: '', dataDir: dir });
      const client2 = new Redis(again.url);
      expect(await client2.get('survives')).toBe('restart');
      client2.disconnect();
      await again.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

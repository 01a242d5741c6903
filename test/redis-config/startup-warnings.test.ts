import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { findFreePort, startRedis } from '@ec2-restore/local-aws';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

async function logsOf(service: string, env: Record<string, string>, until: RegExp): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', `services/${service}/src/main.ts`], {
    cwd: root,
    env: { ...process.env, ...env },
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const deadline = Date.now() + 120_000;
  while (!until.test(output) && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGTERM');
  return output;
}

describe('services warn at start-up about a Redis that can lose or evict data', () => {
  it('the API and a worker name the eviction policy and AOF settings to fix', async () => {
    const redis = await startRedis({ url: '', preferContainer: false });
    try {
      const admin = new Redis(redis.url);
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      admin.disconnect();
      const env = {
        REDIS_URL: redis.url,
        AWS_REGION: 'eu-west-1',
        BACKUP_REPOSITORY: resolve(root, '.tmp', 'no-repository'),
        API_TOKENS: 'startup-warning-test',
        PORT: String(await findFreePort()),
        SWEEP_INTERVAL_MINUTES: '0',
      };
      for (const service of ['api', 'snapshot-worker']) {
        const logs = await logsOf(service, env, /AOF[\s\S]*allkeys-lru|allkeys-lru[\s\S]*AOF/);
        expect(logs, service).toMatch(/allkeys-lru/);
        expect(logs, service).toMatch(/AOF/);
      }
    } finally {
      await redis.stop();
    }
  }, 300_000);
});

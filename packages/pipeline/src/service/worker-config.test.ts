import { describe, expect, it } from 'vitest';
import { baseWorkerEnvSchema, ConfigError, concurrencySchema, parseEnv } from './worker-config.ts';

const schema = baseWorkerEnvSchema.extend({ SHARE_WORKER_CONCURRENCY: concurrencySchema(8) });

describe('worker configuration from the environment', () => {
  it('applies defaults', () => {
    expect(parseEnv('share-worker', schema, { AWS_REGION: 'eu-west-1' })).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'bull',
      STATE_PREFIX: 'ec2-restore:',
      SHARE_WORKER_CONCURRENCY: 8,
      WORKER_STOP_TIMEOUT_SECONDS: 25,
      WORKER_LOCK_SECONDS: 30,
    });
  });

  it('bounds the graceful stop: WORKER_STOP_TIMEOUT_SECONDS must be a positive number of seconds', () => {
    const env = { AWS_REGION: 'eu-west-1' };
    expect(parseEnv('share-worker', schema, { ...env, WORKER_STOP_TIMEOUT_SECONDS: '2.5' })).toMatchObject({
      WORKER_STOP_TIMEOUT_SECONDS: 2.5,
    });
    expect(() => parseEnv('share-worker', schema, { ...env, WORKER_STOP_TIMEOUT_SECONDS: '0' })).toThrow(
      'WORKER_STOP_TIMEOUT_SECONDS must be more than 0 (got "0")',
    );
  });

  it('names every wrong variable, what it must be, and the value given', () => {
    let error: unknown;
    try {
      parseEnv('share-worker', schema, {
        AWS_REGION: 'Ireland',
        SHARE_WORKER_CONCURRENCY: '0',
        REDIS_URL: 'localhost',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('AWS_REGION must be a region name such as eu-west-1 (got "Ireland")');
    expect(message).toContain('SHARE_WORKER_CONCURRENCY must be at least 1 (got "0")');
    expect(message).toContain('REDIS_URL must be a redis:// or rediss:// URL');
  });
});

import { randomUUID } from 'node:crypto';
import { type InstanceJobInput, JobName, jobIdFor, QueueName } from '@ec2-restore/contracts';
import {
  createStepClients,
  PermanentStepError,
  type RunningStepWorker,
  StepPendingError,
  type StepProcessor,
  startStepWorker,
} from '@ec2-restore/pipeline';
import { RestoreStore } from '@ec2-restore/restore-state';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForEnd } from '../support/index.ts';

// The queue wiring of a step worker on a real Redis, with processors written for the test (no AWS):
// how each kind of error steers the job, and what the restore record says afterwards.

const ACCOUNT = '333333333333';

function instanceJob(restoreId: string): InstanceJobInput {
  return {
    restoreId,
    mode: 'same-account',
    region: 'eu-west-1',
    sourceAccountId: ACCOUNT,
    targetAccountId: ACCOUNT,
    restorePointId: 'rp-1',
    targetKmsKeyId: 'alias/target',
    instance: { powerOn: false },
    restorePoint: { instanceType: 't3.micro', rootDeviceName: '/dev/xvda', architecture: 'x86_64' },
  };
}

describe('step worker: errors steer jobs, the restore record follows', () => {
  const prefix = `sw${randomUUID().slice(0, 8)}`;
  let redis: Redis | undefined;
  let running: RunningStepWorker | undefined;
  let queue: Queue | undefined;

  afterEach(async () => {
    await running?.close();
    await queue?.obliterate({ force: true });
    await queue?.close();
    await redis?.quit();
  });

  async function setup(instance: StepProcessor, pendingLimitMs?: number) {
    redis = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
    const store = new RestoreStore(redis, { prefix: `${prefix}:state:` });
    const cleanups: unknown[] = [];
    running = startStepWorker({
      queue: QueueName.Instance,
      processors: {
        instance,
        cleanup: async (data) => {
          cleanups.push(data);
          return {
            unsharedSnapshots: [],
            deletedSnapshots: [],
            deletedVolumes: [],
            terminatedInstances: [],
            retiredGrants: [],
          };
        },
      },
      connection: redis,
      store,
      clients: createStepClients(),
      prefix,
      ...(pendingLimitMs !== undefined ? { pendingLimitMs } : {}),
    });
    queue = new Queue(QueueName.Instance, { connection: redis, prefix });
    const restoreId = randomUUID();
    // The request the job was built from: a worker refuses a job that differs from it.
    const request = {
      restorePointId: 'rp-1',
      target: { accountId: ACCOUNT, region: 'eu-west-1', kmsKeyId: 'alias/target' },
      instance: { powerOn: false },
      dataPath: 'ebs-direct',
      kmsGrant: 'none',
    };
    await store.create({ id: restoreId, mode: 'same-account', request, steps: ['instance', 'cleanup'] });
    await queue.add(JobName.Instance, instanceJob(restoreId), {
      jobId: jobIdFor(restoreId, JobName.Instance),
      attempts: 5,
      backoff: { type: 'fixed', delay: 50 },
    });
    return { store, restoreId, cleanups };
  }

  const result = { instanceId: 'i-0123456789abcdef0', accountId: ACCOUNT, region: 'eu-west-1', volumes: [] };

  it('StepPendingError: the job comes back later as the same attempt; the restore succeeds after cleanup', async () => {
    let calls = 0;
    const { store, restoreId, cleanups } = await setup(async () => {
      calls += 1;
      if (calls === 1) throw new StepPendingError('instance to be stopped', 100);
      return result;
    });
    const restore = await waitForEnd(store, restoreId, 30_000);
    expect(restore.status).toBe('succeeded');
    expect(restore.result).toEqual(result);
    expect(calls).toBe(2);
    expect(restore.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['instance', 'succeeded', 1],
      ['cleanup', 'succeeded', 1],
    ]);
    // The result is the lifecycle's to keep (held in the record), not carried by the cleanup job.
    expect(cleanups).toEqual([expect.objectContaining({ restoreId, outcome: 'succeeded' })]);
    expect(cleanups[0]).not.toHaveProperty('result');
  });

  it('a step that waits longer than its pending limit fails with code timeout; cleanup runs', async () => {
    let calls = 0;
    const { store, restoreId, cleanups } = await setup(async () => {
      calls += 1;
      throw new StepPendingError('instance i-0123456789abcdef0 to be running', 100);
    }, 1_000);
    const restore = await waitForEnd(store, restoreId, 30_000);
    expect(restore.status).toBe('failed');
    expect(restore.error).toMatchObject({ code: 'timeout', category: 'aws', step: 'instance' });
    expect(restore.error?.message).toMatch(
      /waited \d+ minutes in all.*still for instance i-0123456789abcdef0 to be running/,
    );
    expect(calls).toBeGreaterThan(2);
    await expect.poll(() => cleanups.length, { timeout: 10_000 }).toBe(1);
    expect(cleanups[0]).toMatchObject({ restoreId, outcome: 'failed' });
  });

  it('PermanentStepError: failed at the first attempt with category and AWS request id; cleanup runs', async () => {
    let calls = 0;
    const { store, restoreId, cleanups } = await setup(async () => {
      calls += 1;
      throw new PermanentStepError('AccessDeniedException: not allowed to use the key', {
        code: 'kms_access_denied',
        category: 'kms',
        awsRequestId: 'req-123',
      });
    });
    const restore = await waitForEnd(store, restoreId, 30_000);
    expect(restore.status).toBe('failed');
    expect(restore.error).toEqual({
      code: 'kms_access_denied',
      message: 'AccessDeniedException: not allowed to use the key',
      category: 'kms',
      step: 'instance',
      awsRequestId: 'req-123',
    });
    expect(calls).toBe(1);
    await expect.poll(() => cleanups.length, { timeout: 10_000 }).toBe(1);
    expect(cleanups[0]).toMatchObject({ restoreId, outcome: 'failed' });
  });

  it('throttling is retried with backoff and counted as attempts', async () => {
    let calls = 0;
    const { store, restoreId } = await setup(async () => {
      calls += 1;
      if (calls <= 2) {
        throw Object.assign(new Error('Request limit exceeded.'), {
          name: 'RequestLimitExceeded',
          $metadata: { httpStatusCode: 503, requestId: `req-${calls}` },
        });
      }
      return result;
    });
    const restore = await waitForEnd(store, restoreId, 30_000);
    expect(restore.status).toBe('succeeded');
    expect(calls).toBe(3);
    expect(restore.steps.find((s) => s.name === 'instance')).toMatchObject({
      status: 'succeeded',
      attempts: 3,
    });
  });

  it('cancel: a running job is aborted within seconds, cleanup runs, the restore ends cancelled', async () => {
    let aborted = false;
    let started = false;
    const { store, restoreId, cleanups } = await setup(
      (_data, ctx) =>
        new Promise((_resolve, reject) => {
          started = true;
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(ctx.signal.reason);
          });
        }),
    );
    await expect.poll(() => started, { timeout: 10_000 }).toBe(true);
    const cancelledAt = Date.now();
    await store.setStatus(restoreId, 'cancelling');
    const restore = await waitForEnd(store, restoreId, 30_000);
    expect(aborted).toBe(true);
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expect(restore.status).toBe('cancelled');
    expect(restore.steps.find((s) => s.name === 'instance')?.status).toBe('cancelled');
    expect(cleanups).toContainEqual(expect.objectContaining({ restoreId, outcome: 'cancelled' }));
  });
});

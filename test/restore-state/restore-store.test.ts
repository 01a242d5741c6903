import { randomUUID } from 'node:crypto';
import {
  IllegalTransitionError,
  type RestoreEvent,
  RestoreExistsError,
  RestoreNotFoundError,
  RestoreStore,
} from '@ec2-restore/restore-state';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const request = {
  restorePointId: 'rp-1',
  target: { accountId: '111111111111', region: 'eu-west-1' },
  volumes: [],
};

let redis: Redis;
let store: RestoreStore;
let prefix: string;
const extraConnections: Redis[] = [];

/** Another store on its own connection, as another process (a worker) would have. */
function otherStore(): RestoreStore {
  const connection = redis.duplicate();
  extraConnections.push(connection);
  return new RestoreStore(connection, { prefix });
}

beforeEach(() => {
  redis = new Redis(process.env.REDIS_URL as string, { maxRetriesPerRequest: 1 });
  prefix = `test-${randomUUID()}:`;
  store = new RestoreStore(redis, { prefix });
});

afterEach(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  for (const connection of extraConnections.splice(0)) connection.disconnect();
  redis.disconnect();
});

function newRestore(id: string = randomUUID()) {
  return {
    id,
    mode: 'cross-account' as const,
    request,
    steps: ['snapshot:/dev/xvda', 'snapshot:/dev/xvdb', 'share', 'instance'],
    volumes: [
      { deviceName: '/dev/xvda', bytesTotal: 8 * 2 ** 30 },
      { deviceName: '/dev/xvdb', bytesTotal: 2 ** 30 },
    ],
  };
}

/** Collects events until `until` matches one, or fails after a few seconds. */
function collectEvents(id: string, until: (event: RestoreEvent) => boolean, after?: string) {
  const events: RestoreEvent[] = [];
  let stop: () => Promise<void> = async () => {};
  const done = new Promise<RestoreEvent[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no final event; got ${JSON.stringify(events)}`)),
      10_000,
    );
    stop = store.subscribe(
      id,
      (event) => {
        events.push(event);
        if (until(event)) {
          clearTimeout(timer);
          resolve(events);
        }
      },
      after === undefined ? {} : { after },
    );
  });
  return { done: done.finally(() => stop()), stop: () => stop() };
}

describe('RestoreStore', () => {
  it('creates a queued restore with its pending steps and volume totals', async () => {
    const outcome = await store.create(newRestore('r-1'));
    expect(outcome.outcome).toBe('created');
    const restore = await store.get('r-1');
    expect(restore).toMatchObject({
      id: 'r-1',
      status: 'queued',
      mode: 'cross-account',
      request,
      result: null,
      error: null,
      progress: { bytesTotal: 9 * 2 ** 30, bytesDone: 0 },
    });
    expect(restore?.request).toEqual(request);
    expect(restore?.steps.map((step) => [step.name, step.status, step.attempts])).toEqual([
      ['snapshot:/dev/xvda', 'pending', 0],
      ['snapshot:/dev/xvdb', 'pending', 0],
      ['share', 'pending', 0],
      ['instance', 'pending', 0],
    ]);
    expect(restore?.progress.volumes.map((volume) => volume.deviceName)).toEqual(['/dev/xvda', '/dev/xvdb']);
    await expect(store.create(newRestore('r-1'))).rejects.toBeInstanceOf(RestoreExistsError);
  });

  it('returns null for an unknown restore and refuses updates to it', async () => {
    expect(await store.get('nope')).toBeNull();
    await expect(store.startStep('nope', 'share')).rejects.toBeInstanceOf(RestoreNotFoundError);
    await expect(store.setStatus('nope', 'running')).rejects.toBeInstanceOf(RestoreNotFoundError);
    await expect(store.setVolumeProgress('nope', '/dev/xvda', 1)).rejects.toBeInstanceOf(
      RestoreNotFoundError,
    );
  });

  it('records steps, attempts and times; the first started step makes the restore running', async () => {
    await store.create(newRestore('r-2'));
    expect(await store.startStep('r-2', 'share')).toBe(1);
    expect(await store.getStatus('r-2')).toBe('running');
    const firstStart = (await store.get('r-2'))?.steps.find((step) => step.name === 'share')?.startedAt;
    expect(await store.startStep('r-2', 'share')).toBe(2);
    expect(await store.recordAttempt('r-2', 'share')).toBe(3);
    await store.finishStep('r-2', 'share', 'succeeded');
    await store.startStep('r-2', 'cleanup');
    const restore = await store.get('r-2');
    const share = restore?.steps.find((step) => step.name === 'share');
    expect(share).toMatchObject({ status: 'succeeded', attempts: 3, startedAt: firstStart });
    expect(share?.finishedAt).not.toBeNull();
    // A step not declared at creation is appended after the declared ones.
    expect(restore?.steps.at(-1)).toMatchObject({ name: 'cleanup', status: 'running', attempts: 1 });
  });

  it('counts every attempt when many workers start steps of one restore at once', async () => {
    await store.create(newRestore('r-3'));
    const others = Array.from({ length: 4 }, () => otherStore());
    await Promise.all(
      others.flatMap((other) =>
        Array.from({ length: 25 }, () => other.startStep('r-3', 'snapshot:/dev/xvda')),
      ),
    );
    const step = (await store.get('r-3'))?.steps.find((s) => s.name === 'snapshot:/dev/xvda');
    expect(step?.attempts).toBe(100);
  });

  it('keeps progress per volume and the total, from concurrent writers', async () => {
    await store.create(newRestore('r-4'));
    const writers = ['/dev/xvda', '/dev/xvdb', '/dev/xvdc'].map((device) => ({
      device,
      store: otherStore(),
    }));
    await Promise.all(
      writers.map(async ({ device, store: writer }) => {
        for (let mib = 1; mib <= 20; mib++) {
          await writer.setVolumeProgress(
            'r-4',
            device,
            mib * 2 ** 20,
            device === '/dev/xvdc' ? 2 ** 30 : undefined,
          );
        }
      }),
    );
    const restore = await store.get('r-4');
    expect(restore?.progress.volumes).toEqual([
      {
        deviceName: '/dev/xvda',
        bytesTotal: 8 * 2 ** 30,
        bytesDone: 20 * 2 ** 20,
        phase: 'write',
        bytesVerified: 0,
      },
      {
        deviceName: '/dev/xvdb',
        bytesTotal: 2 ** 30,
        bytesDone: 20 * 2 ** 20,
        phase: 'write',
        bytesVerified: 0,
      },
      {
        deviceName: '/dev/xvdc',
        bytesTotal: 2 ** 30,
        bytesDone: 20 * 2 ** 20,
        phase: 'write',
        bytesVerified: 0,
      },
    ]);
    expect(restore?.progress).toMatchObject({ bytesTotal: 10 * 2 ** 30, bytesDone: 60 * 2 ** 20 });
    await expect(store.setVolumeProgress('r-4', '/dev/xvda', -1)).rejects.toBeInstanceOf(RangeError);
  });

  it('shows the verify phase per volume, counts verified bytes once, and streams it as progress', async () => {
    await store.create(newRestore('v-1'));
    const { done } = collectEvents('v-1', (e) => e.type === 'progress' && e.data.phase === 'verify');
    await store.setVolumeProgress('v-1', '/dev/xvdb', 2 ** 30);
    expect((await store.get('v-1'))?.progress.volumes[1]).toEqual({
      deviceName: '/dev/xvdb',
      bytesTotal: 2 ** 30,
      bytesDone: 2 ** 30,
      phase: 'write',
      bytesVerified: 0,
    });
    const before = (await store.readMetrics()).bytesVerified;
    await otherStore().setVolumeVerified('v-1', '/dev/xvdb', 2 ** 29);
    await otherStore().setVolumeVerified('v-1', '/dev/xvdb', 2 ** 30);
    // A retried job reads back again from 0: only bytes beyond what was counted count again.
    await store.setVolumeVerified('v-1', '/dev/xvdb', 2 ** 20);
    const restore = await store.get('v-1');
    expect(restore?.progress.volumes.map((v) => [v.deviceName, v.phase, v.bytesVerified])).toEqual([
      ['/dev/xvda', 'write', 0],
      ['/dev/xvdb', 'verify', 2 ** 20],
    ]);
    expect(restore?.progress.bytesDone).toBe(2 ** 30);
    expect((await store.readMetrics()).bytesVerified - before).toBe(2 ** 30);
    const events = await done;
    // The first verify event (more may have arrived by now: the subscription reads in batches).
    expect(events.find((e) => e.type === 'progress' && e.data.phase === 'verify')?.data).toEqual({
      deviceName: '/dev/xvdb',
      phase: 'verify',
      bytesDone: 2 ** 30,
      bytesVerified: 2 ** 29,
      bytesTotal: 2 ** 30,
      totalDone: 2 ** 30,
      total: 9 * 2 ** 30,
    });
    await expect(store.setVolumeVerified('nope', '/dev/xvda', 1)).rejects.toBeInstanceOf(
      RestoreNotFoundError,
    );
  });

  it('handles byte counts beyond 32 bits (a 16 TiB volume)', async () => {
    await store.create(newRestore('r-big'));
    const big = 16 * 2 ** 40;
    await store.setVolumeProgress('r-big', '/dev/xvda', big - 512 * 1024, big);
    const { done } = collectEvents('r-big', (event) => event.type === 'progress');
    const events = await done;
    expect(events.at(-1)?.data).toMatchObject({
      bytesDone: big - 512 * 1024,
      bytesTotal: big,
      total: big + 2 ** 30,
    });
  });

  it('enforces the lifecycle: terminal statuses never change', async () => {
    await store.create(newRestore('r-5'));
    await expect(
      store.succeed('r-5', { instanceId: 'i-1', accountId: '1', region: 'eu-west-1', volumes: [] }),
    ).rejects.toThrow(IllegalTransitionError);
    expect(await store.setStatus('r-5', 'running')).toBe('queued');
    expect(await store.setStatus('r-5', 'running')).toBe('running');
    await store.succeed('r-5', {
      instanceId: 'i-1',
      accountId: '111111111111',
      region: 'eu-west-1',
      volumes: [],
    });
    await expect(store.setStatus('r-5', 'cancelling')).rejects.toThrow(
      /cannot go from succeeded to cancelling/,
    );
    await expect(
      store.fail('r-5', { code: 'x', message: 'x', category: 'internal', step: null, awsRequestId: null }),
    ).rejects.toBeInstanceOf(IllegalTransitionError);
    const restore = await store.get('r-5');
    expect(restore?.status).toBe('succeeded');
    expect(restore?.result).toEqual({
      instanceId: 'i-1',
      accountId: '111111111111',
      region: 'eu-west-1',
      volumes: [],
    });
    expect(restore?.error).toBeNull();
  });

  it('lets only one of two concurrent end states win', async () => {
    await store.create(newRestore('r-6'));
    await store.setStatus('r-6', 'running');
    const other = otherStore();
    const outcomes = await Promise.allSettled([
      store.succeed('r-6', { instanceId: 'i-1', accountId: '1', region: 'eu-west-1', volumes: [] }),
      other.fail('r-6', {
        code: 'x',
        message: 'x',
        category: 'aws',
        step: 'instance',
        awsRequestId: 'req-1',
      }),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const restore = await store.get('r-6');
    expect(restore?.status === 'succeeded' ? restore.error : restore?.result).toBeNull();
  });

  it('lists restores newest first, by status', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const timed = new RestoreStore(redis, {
      prefix,
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
    });
    for (const id of ['a', 'b', 'c']) await timed.create(newRestore(id));
    await timed.setStatus('b', 'running');
    await timed.setStatus('c', 'cancelling');
    expect((await timed.list()).map((restore) => restore.id)).toEqual(['c', 'b', 'a']);
    expect((await timed.list({ limit: 2 })).map((restore) => restore.id)).toEqual(['c', 'b']);
    expect((await timed.list({ status: 'running' })).map((restore) => restore.id)).toEqual(['b']);
    expect((await timed.list({ status: 'queued' })).map((restore) => restore.id)).toEqual(['a']);
    await timed.setStatus('c', 'cancelled');
    expect((await timed.list({ status: 'cancelling' })).map((restore) => restore.id)).toEqual([]);
    expect((await timed.list({ status: 'cancelled' })).map((restore) => restore.id)).toEqual(['c']);
  });

  it('walks the restores of a status created up to a time, oldest first, a page at a time, through ties', async () => {
    // Five restores per millisecond, so pages of 3 end inside a millisecond again and again.
    const start = Date.parse('2026-01-01T00:00:00Z');
    let created = 0;
    const timed = new RestoreStore(redis, {
      prefix,
      now: () => new Date(start + Math.floor(created / 5)),
    });
    const ids: string[] = [];
    for (; created < 23; created++) {
      const id = `r-${String(created).padStart(2, '0')}`;
      await timed.create(newRestore(id));
      ids.push(id);
    }
    await timed.setStatus('r-01', 'running');
    const pages: string[][] = [];
    // Created up to start + 3 ms: the first 20.
    for await (const page of timed.idPages('queued', start + 3, 3)) pages.push(page);
    expect(pages.every((page) => page.length <= 3)).toBe(true);
    const walked = pages.flat();
    // Each once, in creation order (within a millisecond Redis orders by id, here creation order too).
    expect(walked).toEqual(ids.slice(0, 20).filter((id) => id !== 'r-01'));
    // getMany keeps the order asked for and leaves out ids that are not restores.
    expect((await timed.getMany(['r-07', 'nothing', 'r-02'])).map((r) => [r.id, r.status])).toEqual([
      ['r-07', 'queued'],
      ['r-02', 'queued'],
    ]);
    const none: string[][] = [];
    for await (const page of timed.idPages('queued', start - 1)) none.push(page);
    expect(none).toEqual([]);
  });

  it('honours idempotency keys atomically: same body → first restore, other body → conflict', async () => {
    const attempts = await Promise.all(
      ['r-7a', 'r-7b', 'r-7c'].map((id) =>
        otherStore().create(newRestore(id), { key: 'k1', bodyHash: 'h1' }),
      ),
    );
    const created = attempts.filter((attempt) => attempt.outcome === 'created');
    expect(created).toHaveLength(1);
    const firstId = created[0]?.outcome === 'created' ? created[0].restore.id : '';
    for (const attempt of attempts.filter((a) => a.outcome !== 'created')) {
      expect(attempt).toEqual({ outcome: 'existing', restoreId: firstId });
    }
    expect(await store.create(newRestore('r-7d'), { key: 'k1', bodyHash: 'other' })).toEqual({
      outcome: 'conflict',
      restoreId: firstId,
    });
    expect(await store.get('r-7d')).toBeNull();
    expect(await store.findIdempotencyKey('k1', 'h1')).toEqual({ outcome: 'existing', restoreId: firstId });
    expect(await store.findIdempotencyKey('unused', 'h1')).toBeNull();
  });

  it('streams events across connections, replays history, and ends with the end event', async () => {
    await store.create(newRestore('r-8'));
    const worker = otherStore();
    const live = collectEvents('r-8', (event) => event.type === 'end');
    await worker.startStep('r-8', 'snapshot:/dev/xvda');
    await worker.setVolumeProgress('r-8', '/dev/xvda', 2 ** 20);
    await worker.finishStep('r-8', 'snapshot:/dev/xvda', 'succeeded');
    await worker.fail('r-8', {
      code: 'kms_access_denied',
      message: 'no',
      category: 'kms',
      step: 'share',
      awsRequestId: 'req-9',
    });
    const events = await live.done;
    expect(events.map((event) => event.type)).toEqual([
      'step',
      'status',
      'progress',
      'step',
      'status',
      'end',
    ]);
    expect(events[0]?.data).toEqual({ name: 'snapshot:/dev/xvda', status: 'running', attempts: 1 });
    expect(events[1]?.data).toEqual({ status: 'running', previous: 'queued' });
    expect(events[2]?.data).toEqual({
      deviceName: '/dev/xvda',
      bytesDone: 2 ** 20,
      bytesTotal: 8 * 2 ** 30,
      totalDone: 2 ** 20,
      total: 9 * 2 ** 30,
    });
    expect(events[5]?.data).toMatchObject({
      status: 'failed',
      result: null,
      error: { code: 'kms_access_denied' },
    });

    // A subscriber arriving after the end replays the history; one resuming after an id sees the rest.
    const replay = await collectEvents('r-8', (event) => event.type === 'end').done;
    expect(replay.map((event) => event.id)).toEqual(events.map((event) => event.id));
    const resumed = await collectEvents('r-8', (event) => event.type === 'end', events[3]?.id).done;
    expect(resumed.map((event) => event.type)).toEqual(['status', 'end']);
  });

  it('aggregates metrics from every process: step durations, bytes written, AWS calls, counts by status', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const timed = new RestoreStore(redis, {
      prefix,
      now: () => new Date(clock),
    });
    await timed.create(newRestore('m-1'));
    await timed.startStep('m-1', 'snapshot:/dev/xvda');
    clock += 42_000;
    await timed.finishStep('m-1', 'snapshot:/dev/xvda', 'succeeded');
    // Finishing again (a duplicate report) does not count twice.
    await timed.finishStep('m-1', 'snapshot:/dev/xvda', 'succeeded');
    await timed.setVolumeProgress('m-1', '/dev/xvda', 3 * 2 ** 20);
    await timed.setVolumeProgress('m-1', '/dev/xvda', 5 * 2 ** 20);
    await otherStore().recordAwsCall('EC2.CreateVolume', undefined, {
      accountId: '222222222222',
      region: 'eu-west-1',
    });
    await otherStore().recordAwsCall('EC2.CreateVolume', 'InvalidParameterValue', {
      accountId: '222222222222',
      region: 'eu-west-1',
    });
    await otherStore().recordAwsThrottle('EC2.CreateVolume', {
      accountId: '222222222222',
      region: 'eu-west-1',
    });

    const metrics = await store.readMetrics();
    expect(metrics.bytesWritten).toBe(5 * 2 ** 20);
    const where = { accountId: '222222222222', region: 'eu-west-1' };
    expect(metrics.awsCalls).toEqual([{ operation: 'EC2.CreateVolume', ...where, count: 2 }]);
    expect(metrics.awsErrors).toEqual([
      { operation: 'EC2.CreateVolume', code: 'InvalidParameterValue', ...where, count: 1 },
    ]);
    expect(metrics.awsThrottles).toEqual([{ operation: 'EC2.CreateVolume', ...where, count: 1 }]);
    expect(metrics.stepDurations).toHaveLength(1);
    const snapshot = metrics.stepDurations[0];
    expect(snapshot).toMatchObject({ step: 'snapshot', status: 'succeeded', count: 1, sumSeconds: 42 });
    expect(snapshot?.buckets.find((bucket) => bucket.le === 30)?.count).toBe(0);
    expect(snapshot?.buckets.find((bucket) => bucket.le === 60)?.count).toBe(1);
    expect(await store.countByStatus()).toEqual({
      queued: 0,
      running: 1,
      succeeded: 0,
      failed: 0,
      cancelling: 0,
      cancelled: 0,
    });
  });

  it('stops delivering after unsubscribe', async () => {
    await store.create(newRestore('r-9'));
    const seen: RestoreEvent[] = [];
    const unsubscribe = store.subscribe('r-9', (event) => seen.push(event), { after: '$' });
    await unsubscribe();
    await store.startStep('r-9', 'share');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toEqual([]);
  });
});

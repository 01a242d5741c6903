import { randomUUID } from 'node:crypto';
import { FlowRestoreLauncher, PreflightPlanner } from '@ec2-restore/api';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import {
  GIB,
  JobName,
  jobIdFor,
  QueueName,
  queueNames,
  restoreRequestSchema,
  restoreStepNames,
} from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import {
  acceptRestore,
  flowInQueues,
  type RelaunchReport,
  relaunchStranded,
  startRelaunchingStranded,
} from '@ec2-restore/pipeline';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_CENSUS, REGION, TEST_BACKOFF_MS, type World, worldPerTest } from '../support/index.ts';

const openWorld = worldPerTest();

describe('restores no worker moves on: the relaunch pass of every API process', { timeout: 300_000 }, () => {
  let queues: Queue[] = [];
  let planner: PreflightPlanner | undefined;
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.close()));
    planner?.close();
  });

  /** The pass's ports and queue functions on the world's pipeline, as the API process wires them. */
  function passOn(world: World) {
    planner = new PreflightPlanner({
      repository: openBackupRepository(world.backup.repositoryPath),
      region: REGION,
      credentials: credentialsForAccount(world.source.id),
    });
    queues = queueNames.map(
      (name) => new Queue(name, { connection: world.pipeline.redis, prefix: world.pipeline.queuePrefix }),
    );
    const instanceQueue = queues.find((q) => q.name === QueueName.Instance) as Queue;
    const ports = {
      store: world.pipeline.store,
      planner,
      launcher: new FlowRestoreLauncher(world.pipeline.flowProducer, { backoffMs: TEST_BACKOFF_MS }),
    };
    /** Jobs of any state in any of the restore queues. */
    const jobsInQueues = async () => {
      const counts = await Promise.all(queues.map((q) => q.getJobCounts()));
      return counts.flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0);
    };
    return { ports, ...flowInQueues(instanceQueue), jobsInQueues };
  }

  it('a restore accepted without its flow (the API died in between) is started and succeeds; a cancelled one ends cancelled', async () => {
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'] });
    const { ports, flowExists, removeFlow } = passOn(world);
    const store = world.pipeline.store;
    // The API's accept, with a launcher that never adds the flow: as if the process died right there.
    const dying = { start: async () => '' };
    const accept = async (name: string) => {
      const request = restoreRequestSchema.parse(
        world.request({ instance: { name, subnetId: world.targetSubnetId, powerOn: true } }),
      );
      const outcome = await acceptRestore({ store, planner: ports.planner, launcher: dying }, request);
      if (outcome.kind !== 'accepted') throw new Error(JSON.stringify(outcome));
      return outcome.restore.id;
    };
    const stranded = await accept('stranded');
    const cancelled = await accept('stranded-cancelled');
    await store.setStatus(cancelled, 'cancelling');

    expect(await flowExists(stranded)).toBe(false);
    const options = { flowExists, removeFlow };
    // Too young: its POST might still be adding the flow.
    expect(await relaunchStranded(ports, { olderThanMs: 60_000, ...options })).toEqual({
      relaunched: [],
      refused: [],
      cancelled: [],
      deferred: [],
    });
    const report = await relaunchStranded(ports, { olderThanMs: 0, ...options });
    expect(report).toEqual({ relaunched: [stranded], refused: [], cancelled: [cancelled], deferred: [] });
    expect(await flowExists(stranded)).toBe(true);
    expect(await flowExists(cancelled)).toBe(false);
    // A second pass (another API replica) finds the flow there and adds nothing.
    expect((await relaunchStranded(ports, { olderThanMs: 0, ...options })).relaunched).toEqual([]);

    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const done = await world.waitForEnd(stranded, 240_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result?.instanceId).toMatch(/^i-/);
    expect((await store.get(cancelled))?.status).toBe('cancelled');
    expect(await world.census([cancelled])).toEqual(EMPTY_CENSUS);
  });

  it('finds a stranded restore behind more than a thousand queued ones: the pass walks every old enough restore a page at a time', async () => {
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'] });
    const { ports, flowExists, removeFlow } = passOn(world);
    const store = world.pipeline.store;
    const request = restoreRequestSchema.parse(
      world.request({ instance: { name: 'backlog', subnetId: world.targetSubnetId, powerOn: false } }),
    );
    const create = async () => {
      const id = randomUUID();
      const steps = restoreStepNames('cross-account', ['/dev/xvda']);
      const volumes = [{ deviceName: '/dev/xvda', bytesTotal: GIB }];
      await store.create({ id, mode: 'cross-account', request, steps, volumes });
      return id;
    };
    // The oldest lost its flow (its API process died), then 1,100 more were queued, waiting for a
    // worker: each of those has its flow (its root job) in the queues. Created 100 at a time, so
    // many share a millisecond, also where a page ends.
    const stranded = await create();
    const waiting: string[] = [];
    for (let batch = 0; batch < 11; batch++)
      waiting.push(...(await Promise.all(Array.from({ length: 100 }, create))));
    const instanceQueue = queues.find((q) => q.name === QueueName.Instance) as Queue;
    await instanceQueue.addBulk(
      waiting.map((id) => ({
        name: JobName.Instance,
        data: { restoreId: id },
        opts: { jobId: jobIdFor(id, JobName.Instance) },
      })),
    );

    const report = await relaunchStranded(ports, { olderThanMs: 0, flowExists, removeFlow });
    expect(report).toEqual({ relaunched: [stranded], refused: [], cancelled: [], deferred: [] });
    expect(await flowExists(stranded)).toBe(true);
    expect((await store.get(stranded))?.status).toBe('queued');
  });

  it('a restore cancelled before any step started while its queue has no worker ends cancelled: its jobs removed, nothing in AWS', async () => {
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'] });
    const { ports, flowExists, removeFlow, jobsInQueues } = passOn(world);
    const store = world.pipeline.store;
    // Accepted and queued; no snapshot worker runs (stopped, or scaled to zero), so no step starts.
    const id = await world.startRestore(
      world.request({ instance: { name: 'never-started', subnetId: world.targetSubnetId, powerOn: true } }),
    );
    expect(await jobsInQueues()).toBe(3); // snapshot, share, instance
    await store.setStatus(id, 'cancelling'); // what POST /v1/restores/{id}/cancel does

    const passes: RelaunchReport[] = [];
    const olderThanMs = 3_000;
    const intervalMs = 1_000;
    const stop = startRelaunchingStranded(ports, {
      flowExists,
      removeFlow,
      olderThanMs,
      intervalMs,
      onReport: (report) => passes.push(report),
      onError: (error) =>
        passes.push({
          relaunched: [],
          refused: [],
          cancelled: [],
          deferred: [{ restoreId: '', error: error.message }],
        }),
    });
    try {
      // The first pass comes at once: the cancel is too recent (a worker may be about to see it).
      const first = await world.waitUntil(id, () => passes.length > 0, 10_000, 20);
      expect(first.status).toBe('cancelling');
      expect(passes[0]).toEqual({ relaunched: [], refused: [], cancelled: [], deferred: [] });

      const ended = await world.waitForEnd(id, olderThanMs + intervalMs + 10_000);
      expect(ended.status).toBe('cancelled');
      expect(ended.steps.map((s) => s.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
      expect(passes.flatMap((p) => [...p.cancelled, ...p.deferred.map((d) => d.error)])).toEqual([id]);
    } finally {
      await stop();
    }
    // No job is left to run when the workers come back, and nothing was made in either account.
    expect(await jobsInQueues()).toBe(0);
    expect(await world.census([id])).toEqual(EMPTY_CENSUS);
    // The same pass leaves a queued restore with its flow alone (it waits for its workers).
    const waiting = await world.startRestore(world.request());
    expect(await relaunchStranded(ports, { olderThanMs: 0, flowExists, removeFlow })).toEqual({
      relaunched: [],
      refused: [],
      cancelled: [],
      deferred: [],
    });
    expect((await store.get(waiting))?.status).toBe('queued');
  });
});

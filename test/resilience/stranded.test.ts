/**
 * An API process that dies between storing an accepted restore and adding its flow leaves the restore
 * `queued` with no job (packages/pipeline/src/lifecycle/relaunch-stranded.ts). The pass the API runs
 * periodically adds the flow; the restore then runs and succeeds. A cancelled one ends `cancelled`.
 */
import { join } from 'node:path';
import { FlowRestoreLauncher, PreflightPlanner } from '@ec2-restore/api';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { JobName, jobIdFor, QueueName, restoreRequestSchema } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { acceptRestore, relaunchStranded } from '@ec2-restore/pipeline';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  REGION,
  removeBackup,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from '../pipeline/harness.ts';
import { census, EMPTY_CENSUS, openWorld, type ResilienceWorld, restoreBody } from './world.ts';

describe('a restore accepted without its flow (the API died in between)', () => {
  let w: ResilienceWorld | undefined;
  let queue: Queue | undefined;
  const workers: WorkerProcess[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((p) => p.stop()));
    await queue?.close();
    await w?.close();
    await removeBackup(w?.backup);
  });

  it('is started by the relaunch pass and succeeds; a cancelled one ends cancelled', {
    timeout: 300_000,
  }, async () => {
    w = await openWorld();
    const world = w;
    const planner = new PreflightPlanner({
      repository: openBackupRepository(join(world.backup.folder, 'repo')),
      region: REGION,
      credentials: credentialsForAccount(world.world.source.id),
    });
    const store = world.pipeline.store;
    // The API's accept, with a launcher that never adds the flow: as if the process died right there.
    const dying = { start: async () => '' };
    const accept = async (name: string) => {
      const request = restoreRequestSchema.parse(restoreBody(world, name));
      const outcome = await acceptRestore({ store, planner, launcher: dying }, request);
      if (outcome.kind !== 'accepted') throw new Error(JSON.stringify(outcome));
      return outcome.restore.id;
    };
    const stranded = await accept('stranded');
    const cancelled = await accept('stranded-cancelled');
    await store.setStatus(cancelled, 'cancelling');

    queue = new Queue(QueueName.Instance, {
      connection: world.pipeline.redis,
      prefix: world.pipeline.queuePrefix,
    });
    const instanceQueue = queue;
    const flowExists = async (id: string) =>
      (await instanceQueue.getJobState(jobIdFor(id, JobName.Instance))) !== 'unknown';
    expect(await flowExists(stranded)).toBe(false);
    const ports = {
      store,
      planner,
      launcher: new FlowRestoreLauncher(world.pipeline.flowProducer, { backoffMs: 500 }),
    };
    // Too young: its POST might still be adding the flow.
    expect(await relaunchStranded(ports, { olderThanMs: 60_000, flowExists })).toEqual({
      relaunched: [],
      refused: [],
      deferred: [],
    });
    const report = await relaunchStranded(ports, { olderThanMs: 0, flowExists });
    expect(report.relaunched.sort()).toEqual([stranded, cancelled].sort());
    expect(await flowExists(stranded)).toBe(true);
    // A second pass (another API replica) finds the flows there and adds nothing.
    expect((await relaunchStranded(ports, { olderThanMs: 0, flowExists })).relaunched).toEqual([]);

    const env = workerEnv(world.pipeline, world.world.source, world.backup);
    workers.push(
      startWorker('snapshot-worker', env),
      startWorker('share-worker', env),
      startWorker('instance-worker', env),
    );
    const done = await waitForEnd(store, stranded, 240_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result?.instanceId).toMatch(/^i-/);
    expect((await waitForEnd(store, cancelled, 120_000)).status).toBe('cancelled');
    expect(await census(world, [cancelled])).toEqual(EMPTY_CENSUS);
    planner.close();
  });
});

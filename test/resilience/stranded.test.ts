import { FlowRestoreLauncher, PreflightPlanner } from '@ec2-restore/api';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { JobName, jobIdFor, QueueName, restoreRequestSchema } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { acceptRestore, relaunchStranded } from '@ec2-restore/pipeline';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_CENSUS, REGION, TEST_BACKOFF_MS, worldPerTest } from '../support/index.ts';

const openWorld = worldPerTest();

describe('a restore accepted without its flow (the API died in between)', { timeout: 300_000 }, () => {
  let queue: Queue | undefined;
  afterEach(async () => {
    await queue?.close();
  });

  it('is started by the relaunch pass and succeeds; a cancelled one ends cancelled', async () => {
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'] });
    const planner = new PreflightPlanner({
      repository: openBackupRepository(world.backup.repositoryPath),
      region: REGION,
      credentials: credentialsForAccount(world.source.id),
    });
    const store = world.pipeline.store;
    // The API's accept, with a launcher that never adds the flow: as if the process died right there.
    const dying = { start: async () => '' };
    const accept = async (name: string) => {
      const request = restoreRequestSchema.parse(
        world.request({ instance: { name, subnetId: world.targetSubnetId, powerOn: true } }),
      );
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
      launcher: new FlowRestoreLauncher(world.pipeline.flowProducer, { backoffMs: TEST_BACKOFF_MS }),
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

    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const done = await world.waitForEnd(stranded, 240_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result?.instanceId).toMatch(/^i-/);
    expect((await world.waitForEnd(cancelled, 120_000)).status).toBe('cancelled');
    expect(await world.census([cancelled])).toEqual(EMPTY_CENSUS);
    planner.close();
  });
});

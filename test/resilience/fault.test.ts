import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { RestoreTag } from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChaosRun, startChaos } from '../support/chaos.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { stepStatus, worldPerTest } from '../support/index.ts';

/**
 * The fault test of issue 6: N cross-account restores at once while a random worker process is
 * SIGKILLed every few seconds (and restarted) and a proxy between the workers and the emulator answers
 * 10% of EC2 calls with RequestLimitExceeded or 503 Unavailable. Small in the normal run; the larger
 * form is a command in README.md (FAULT_TEST_RESTORES=20).
 */
const RESTORES = Number(process.env.FAULT_TEST_RESTORES ?? 3);
/** How long the kills go on; then the workers run undisturbed until every restore has ended. */
const KILL_FOR_MS = Number(process.env.FAULT_TEST_KILL_MS ?? 60_000);
/** The bound on the whole run, after the POSTs. */
const BOUND_MS = Number(process.env.FAULT_TEST_BOUND_MS ?? 300_000 + RESTORES * 30_000);
/**
 * The workers' job lock (WORKER_LOCK_SECONDS): a SIGKILLed worker's job goes to another worker within
 * about twice this. The product's 30 s would make the test wait a minute per kill; the recovery is the same.
 */
const WORKER_LOCK_SECONDS = '10';

const openWorld = worldPerTest();

describe('fault test: concurrent cross-account restores, killed workers, a throttling EC2 (issue 6)', () => {
  let proxy: FaultProxy | undefined;
  let chaos: ChaosRun | undefined;

  afterEach(async () => {
    await chaos?.stop(2_000);
    await proxy?.close();
  });

  it(`${RESTORES} restores all succeed; exactly one instance and one volume per device each, with the target key; nothing temporary left`, {
    timeout: BOUND_MS + 240_000,
  }, async () => {
    expect(
      Number.isInteger(RESTORES) && RESTORES >= 1,
      'FAULT_TEST_RESTORES must be a whole number >= 1',
    ).toBe(true);
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'], api: true });
    proxy = await startFaultProxy({ target: process.env.AWS_ENDPOINT_URL ?? '', faultRate: 0.1 });
    const tail: string[] = [];
    chaos = startChaos({
      groups: [
        { service: 'snapshot-worker', count: 2 },
        { service: 'share-worker', count: 1 },
        { service: 'instance-worker', count: 2 },
      ],
      env: world.workerEnv({ AWS_ENDPOINT_URL: proxy.endpoint, WORKER_LOCK_SECONDS }),
      killForMs: KILL_FOR_MS,
      killEveryMs: [2_000, 5_000],
      log: (line) => {
        tail.push(line);
        if (tail.length > 400) tail.shift();
      },
    });

    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < RESTORES; i++) {
      const { status, restore } = await world.postRestore(
        world.request({ instance: { name: `fault-${i}`, subnetId: world.targetSubnetId, powerOn: true } }),
      );
      expect(status, JSON.stringify(restore)).toBe(202);
      ids.push(restore.id);
    }
    const ended: Restore[] = [];
    const deadline = started + BOUND_MS;
    for (const id of ids) {
      const restore = await world
        .waitForEnd(id, Math.max(1_000, deadline - Date.now()))
        .catch((error: Error) => {
          throw new Error(`${error.message}\n${tail.join('\n')}`);
        });
      ended.push(restore);
    }
    const elapsedMs = Date.now() - started;
    const failed = ended.filter((r) => r.status !== 'succeeded');
    expect(
      failed.map((r) => [r.id, r.status, r.error]),
      tail.join('\n'),
    ).toEqual([]);

    // Every cleanup step has ended too (it runs after `succeeded` is set).
    for (const id of ids) {
      const restore = await world.waitForEnd(id, 1_000);
      await expect
        .poll(async () => stepStatus(await world.pipeline.store.get(id), 'cleanup'), {
          timeout: 120_000,
          interval: 250,
        })
        .toBe('succeeded');
      expect(restore.status).toBe('succeeded');
    }

    // Target account (fresh): exactly N instances, one per restore, each with one volume per device
    // encrypted with the target key; no other instance or volume (no duplicates, no launch roots).
    const { target, source } = world;
    const { Reservations = [] } = await target.aws.ec2.send(new DescribeInstancesCommand({}));
    const instances = Reservations.flatMap((r) => r.Instances ?? []).filter(
      (i) => i.State?.Name !== 'terminated',
    );
    expect(instances).toHaveLength(RESTORES);
    const { Volumes: targetVolumes = [] } = await target.aws.ec2.send(new DescribeVolumesCommand({}));
    expect(targetVolumes).toHaveLength(RESTORES * world.backup.restorePoint.volumes.length);
    for (const restore of ended) {
      const tagOf = (tags: { Key?: string; Value?: string }[] | undefined) =>
        tags?.find((t) => t.Key === RestoreTag.RestoreId)?.Value;
      const mine = instances.filter((i) => tagOf(i.Tags) === restore.id);
      expect(mine.map((i) => i.InstanceId)).toEqual([restore.result?.instanceId]);
      const volumes = targetVolumes.filter(
        (v) => v.Attachments?.[0]?.InstanceId === restore.result?.instanceId,
      );
      expect(volumes.map((v) => v.Attachments?.[0]?.Device).sort()).toEqual(
        world.backup.restorePoint.volumes.map((v) => v.deviceName).sort(),
      );
      for (const volume of volumes) {
        expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey, State: 'in-use' });
      }
    }

    // Source account (fresh): no snapshot and no volume at all, and nothing shared with the target.
    const { Snapshots: sourceSnapshots = [] } = await source.aws.ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'] }),
    );
    expect(sourceSnapshots).toEqual([]);
    const { Volumes: sourceVolumes = [] } = await source.aws.ec2.send(new DescribeVolumesCommand({}));
    expect(sourceVolumes).toEqual([]);
    const left = await world.census(ids);
    expect(left.sharedWithTarget).toEqual([]);

    // The faults really happened.
    const counts = proxy.counts();
    const kills = chaos.kills();
    expect(kills.length).toBeGreaterThan(0);
    expect(counts.injectedTotal.RequestLimitExceeded + counts.injectedTotal.Unavailable).toBeGreaterThan(0);
    console.log(
      `fault test: ${RESTORES} restores succeeded in ${(elapsedMs / 1000).toFixed(1)} s; ` +
        `${kills.length} SIGKILLs (${kills.map((k) => k.service).join(', ')}), ` +
        `${chaos.unexpectedExits().length} unexpected exits; EC2 calls ${Object.values(counts.ec2Calls).reduce((a, b) => a + b, 0)}, ` +
        `faulted ${counts.injectedTotal.RequestLimitExceeded} RequestLimitExceeded + ${counts.injectedTotal.Unavailable} Unavailable`,
    );
  });
});

import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { jobIdFor, QueueName, type ShareJobResult } from '@ec2-restore/contracts';
import { type ModelledDelay, modelledDelaysSince, type RunningEmulator } from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeInstance,
  EMPTY_CENSUS,
  eventually,
  snapshotsOf,
  stepStatus,
  type World,
  worldPerTest,
} from '../support/index.ts';
import { startEmulatorWith } from '../support/own-emulator.ts';

/*
 * Another account's restore shares each snapshot as soon as StartSnapshot made it, while its blocks
 * are written, so the share reaches the target account long before EBS has sealed the snapshot
 * (`pending` after CompleteSnapshot), and the share step ends once every snapshot is completed
 * (packages/pipeline/src/steps/snapshot.ts, share.ts). On an emulator of this file's own whose seal
 * lasts 4 s, long enough that the steps' order shows whatever the machine's load: the emulator's log
 * of the delays it modelled (GET /ec2restore-test-only/delays) says when each seal began and ended and
 * when each share was made.
 */

const SEAL_MS = 4000;
const DEVICES = ['/dev/xvda', '/dev/xvdb'];

let emulator: RunningEmulator;
let runEndpoint: string | undefined;
beforeAll(async () => {
  emulator = await startEmulatorWith({ EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS: String(SEAL_MS) });
  // The world's accounts and worker processes use the run's emulator (AWS_ENDPOINT_URL): this one here.
  runEndpoint = process.env.AWS_ENDPOINT_URL;
  process.env.AWS_ENDPOINT_URL = emulator.endpoint;
}, 120_000);
afterAll(async () => {
  process.env.AWS_ENDPOINT_URL = runEndpoint;
  await emulator?.stop();
});

const openWorld = worldPerTest();

const epochMs = (iso: string | null | undefined) => (iso ? Date.parse(iso) : Number.NaN);

async function cancel(world: World, id: string): Promise<void> {
  const response = await world.api.call(`/v1/restores/${id}/cancel`, { method: 'POST' });
  expect(response.status, await response.text()).toBe(202);
}

describe('another account: the snapshots are shared while EBS seals them', { timeout: 300_000 }, () => {
  it('each snapshot is shared while its blocks are written, before its seal; the share step ends once every snapshot is completed; the instance is in the target account and nothing is left', async () => {
    const world = await openWorld({ accounts: 'cross', devices: DEVICES });
    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const sinceMs = Date.now();
    const id = await world.startRestore(
      world.request({ instance: { name: 'shared-while-sealing', subnetId: world.targetSubnetId } }),
    );
    const shared = (await world.jobResult(QueueName.Share, jobIdFor(id, 'share'))) as ShareJobResult;
    const restore = await world.waitForEnd(id, 240_000);
    expect(restore.status, world.output()).toBe('succeeded');
    // A wait is not an attempt: nothing failed on the way.
    expect(restore.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ...DEVICES.map((d) => [`snapshot:${d}`, 'succeeded', 1]),
      ['share', 'succeeded', 1],
      ['instance', 'succeeded', 1],
      ['cleanup', 'succeeded', 1],
    ]);

    const delays = await modelledDelaysSince(emulator.endpoint, sinceMs);
    const delay = (kind: ModelledDelay['kind'], snapshotId: string) => {
      const found = delays.filter(
        (d) => d.kind === kind && d.id === snapshotId && (kind !== 'share' || d.grantee === world.target.id),
      );
      expect(found, `${kind} of ${snapshotId}: ${JSON.stringify(delays)}`).toHaveLength(1);
      return found[0] as ModelledDelay;
    };
    const step = (name: string) => restore.steps.find((s) => s.name === name);
    expect(shared.snapshots.map((s) => s.deviceName)).toEqual(DEVICES);
    const seals: ModelledDelay[] = [];
    for (const snapshot of shared.snapshots) {
      const seal = delay('seal', snapshot.snapshotId);
      const share = delay('share', snapshot.snapshotId);
      seals.push(seal);
      expect(seal.untilMs - seal.fromMs).toBeGreaterThanOrEqual(SEAL_MS - 50);
      // The snapshot step ended while its snapshot was sealing, and the share was made before the seal ended.
      expect(epochMs(step(`snapshot:${snapshot.deviceName}`)?.finishedAt)).toBeLessThan(seal.untilMs);
      expect(share.fromMs, `shared at ${share.fromMs}, sealed at ${seal.untilMs}`).toBeLessThan(seal.untilMs);
      // Shared by the snapshot step while it wrote the blocks (1 GiB: seconds here), long before
      // CompleteSnapshot began the seal.
      expect(share.fromMs, `shared at ${share.fromMs}, sealing from ${seal.fromMs}`).toBeLessThan(
        seal.fromMs - 500,
      );
    }
    // The share step ended once every snapshot was completed (the instance step copies and mounts
    // completed snapshots only); the emulator's clock and the workers' are this machine's.
    const sealed = Math.max(...seals.map((s) => s.untilMs));
    expect(epochMs(step('share')?.finishedAt)).toBeGreaterThanOrEqual(sealed - 5);

    const { instance, ownerId } = await describeInstance(world.target, restore.result?.instanceId ?? '');
    expect(ownerId).toBe(world.target.id);
    expect(instance?.Tags).toEqual(expect.arrayContaining([{ Key: 'Name', Value: 'shared-while-sealing' }]));
    expect((instance?.BlockDeviceMappings ?? []).map((m) => m.DeviceName).sort()).toEqual(DEVICES);
    // Cleanup withdrew the shares and deleted the snapshots.
    expect(await snapshotsOf(world.source.aws.ec2, [id])).toEqual([]);
    expect((await world.census([id])).sharedWithTarget).toEqual([]);
  });
  it('cancelled while the blocks are written, after the snapshot was shared: the target account no longer sees it, nothing is left in either account', async () => {
    const world = await openWorld({ accounts: 'cross', devices: ['/dev/xvda'], api: true });
    world.startWorkers(['snapshot-worker', 'share-worker', 'instance-worker']);
    const id = await world.startRestore(world.request({ instance: { subnetId: world.targetSubnetId } }));
    const restorableByTarget = async () => {
      const { Snapshots = [] } = await world.target.aws.ec2.send(
        new DescribeSnapshotsCommand({ RestorableByUserIds: ['self'], OwnerIds: [world.source.id] }),
      );
      return Snapshots;
    };
    // The target account sees the snapshot, `pending`, while the snapshot step still writes it.
    const seen = await eventually(
      async () => {
        const [snapshot] = await restorableByTarget();
        return snapshot;
      },
      60_000,
      50,
    );
    expect(seen.State).toBe('pending');
    expect(stepStatus(await world.pipeline.store.get(id), 'snapshot:/dev/xvda')).toBe('running');

    await cancel(world, id);
    const restore = await world.waitForEnd(id, 120_000);
    expect(restore.status, world.output()).toBe('cancelled');
    expect(stepStatus(restore, 'cleanup')).toBe('succeeded');
    // Cleanup withdrew the share and deleted the snapshot still being written: nothing in either account.
    expect(await world.census([id])).toEqual(EMPTY_CENSUS);
    expect(await restorableByTarget()).toEqual([]);
  });
});

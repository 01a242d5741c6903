import { CompleteSnapshotCommand } from '@aws-sdk/client-ebs';
import { CreateVolumeCommand, DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import {
  isNotVisibleYet,
  type ModelledDelay,
  modelledDelaysSince,
  onceVisible,
  type RunningEmulator,
} from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, putBlock, shareSnapshot, startVisibleSnapshot, ZONE } from '../support/index.ts';
import { accountOn, startEmulatorWith } from '../support/own-emulator.ts';

// The emulator's test-only log of the AWS delays it modelled (test_only.py): bench/restore reads it to
// tell the time AWS would have taken from the product's own. Long windows here (1.5-3 s per id, 2 s
// seal), so the first request is inside the window even on a loaded machine.

const WINDOW_MS = 3000;
const COMPLETING_MS = 2000;
let emulator: RunningEmulator;

beforeAll(async () => {
  emulator = await startEmulatorWith({
    EC2RESTORE_EMULATOR_CONSISTENCY_MS: String(WINDOW_MS),
    EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS: String(COMPLETING_MS),
  });
});
afterAll(async () => {
  await emulator?.stop();
});

async function delayOf(sinceMs: number, kind: ModelledDelay['kind'], id: string): Promise<ModelledDelay> {
  const found = (await modelledDelaysSince(emulator.endpoint, sinceMs)).filter(
    (d) => d.kind === kind && d.id === id,
  );
  expect(found, `one ${kind} delay of ${id}`).toHaveLength(1);
  return found[0]!;
}

const describeVolume = (account: ReturnType<typeof accountOn>, volumeId: string) =>
  account.aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));

describe('the delays the emulator modelled (GET /ec2restore-test-only/delays)', () => {
  it("lists each new id's window, and whether a request met it", async () => {
    const owner = accountOn(emulator);
    const sinceMs = Date.now();
    const create = () => owner.aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }));
    const { VolumeId: askedFor } = await create();
    const { VolumeId: leftAlone } = await create();
    const firstAnswer = await describeVolume(owner, askedFor!).catch((error: Error) => error);
    expect(isNotVisibleYet(firstAnswer), 'the first DescribeVolumes met the window').toBe(true);
    await onceVisible(() => describeVolume(owner, askedFor!));

    const met = await delayOf(sinceMs, 'new-id', askedFor!);
    expect(met.waited).toBe(true);
    expect(met.untilMs - met.fromMs).toBeGreaterThanOrEqual(WINDOW_MS / 2 - 50);
    expect(met.untilMs - met.fromMs).toBeLessThanOrEqual(WINDOW_MS);
    expect(met.fromMs).toBeGreaterThanOrEqual(sinceMs - 50);
    expect((await delayOf(sinceMs, 'new-id', leftAlone!)).waited).toBe(false);
    // Another start time leaves the earlier delays out.
    expect(await modelledDelaysSince(emulator.endpoint, Date.now() + 60_000)).toEqual([]);
  });

  it("lists a share's window for its grantee, and a seal's after CompleteSnapshot, each met", async () => {
    const owner = accountOn(emulator);
    const grantee = accountOn(emulator);
    const sinceMs = Date.now();
    const snapshotId = await startVisibleSnapshot(owner.aws.ebs, { VolumeSize: 1 });
    await putBlock(owner.aws.ebs, snapshotId, 0, Buffer.alloc(524288, 1));
    await owner.aws.ebs.send(new CompleteSnapshotCommand({ SnapshotId: snapshotId, ChangedBlocksCount: 1 }));
    const state = async () =>
      (
        await onceVisible(() =>
          owner.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
        )
      ).Snapshots?.[0]?.State;
    expect(await state()).toBe('pending');
    const seal = await delayOf(sinceMs, 'seal', snapshotId);
    expect(seal).toMatchObject({ waited: true, grantee: '' });
    expect(seal.untilMs - seal.fromMs).toBeGreaterThan(COMPLETING_MS - 50);
    expect(seal.untilMs - seal.fromMs).toBeLessThanOrEqual(COMPLETING_MS + 50);

    await eventually(async () => ((await state()) === 'completed' ? true : undefined));
    await shareSnapshot(owner, snapshotId, grantee.id);
    const seenByGrantee = () =>
      grantee.aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    const firstAnswer = await seenByGrantee().catch((error: Error) => error);
    expect(isNotVisibleYet(firstAnswer), "the grantee's first look met the window").toBe(true);
    const share = await delayOf(sinceMs, 'share', snapshotId);
    expect(share).toMatchObject({ waited: true, grantee: grantee.id });
    expect(share.untilMs - share.fromMs).toBeGreaterThanOrEqual(WINDOW_MS / 2 - 50);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { jobIdFor, QueueName } from '@ec2-restore/contracts';
import { type RunningEmulator, startEmulator } from '@ec2-restore/local-aws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  expectNothingLeft,
  type GeneratedWorld,
  type GeneratedWorldShape,
  generatedWorld,
} from './generated-world.ts';
import {
  type Backup,
  createBackup,
  jobResult,
  launchInstance,
  openPipeline,
  type Pipeline,
  removeBackup,
  startRestore,
  startWorker,
  type WorkerProcess,
  waitForEnd,
  workerEnv,
} from './harness.ts';

/*
 * Whole restores on an emulator that is eventually consistent the way AWS is: every new volume,
 * instance, snapshot and image id answers Invalid*.NotFound for 1.5-3 s after the call that made it
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html), a new EBS direct
 * snapshot is "not found" for PutSnapshotBlock for as long, a snapshot shared with the target account
 * shows up there only after a moment, and a new KMS grant works only after a moment without its
 * grant token (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-eventual-consistency),
 * which EBS cannot pass. A step that read NotFound right after a create as "gone" (a KMS failure),
 * or created the volumes right after CreateGrant, failed these restores; they succeed, as the
 * principals holding only the generated policies, and leave nothing behind.
 */

const WINDOW_MS = 3000;
const DEVICES = ['/dev/xvda', '/dev/xvdb'];

let emulator: RunningEmulator;
beforeAll(async () => {
  const previous = process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS;
  process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS = String(WINDOW_MS);
  try {
    emulator = await startEmulator();
  } finally {
    if (previous === undefined) delete process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS;
    else process.env.EC2RESTORE_EMULATOR_CONSISTENCY_MS = previous;
  }
});
afterAll(async () => {
  await emulator?.stop();
});

describe(`restores with new ids, shares and grants taking up to ${WINDOW_MS} ms to show`, () => {
  let backup: Backup;
  let pipeline: Pipeline | undefined;
  let world: GeneratedWorld | undefined;
  let deviceDir: string | undefined;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    backup = await createBackup(DEVICES);
  }, 300_000);
  afterAll(async () => {
    await removeBackup(backup);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await pipeline?.close();
    world?.destroy();
    if (deviceDir) await rm(deviceDir, { recursive: true, force: true });
    deviceDir = undefined;
  });

  const CASES: GeneratedWorldShape[] = [
    // The grant of kmsGrant auto, the shared snapshots, the new volumes and the new instance.
    { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto' },
    // The worker's temporary volume and its snapshot.
    { mode: 'same-account', dataPath: 'worker-volume', kmsGrant: 'none' },
  ];

  it.each(CASES)(
    '$mode, $dataPath, kmsGrant $kmsGrant: the restore succeeds and leaves nothing behind',
    {
      timeout: 600_000,
    },
    async (shape) => {
      pipeline = openPipeline();
      world = await generatedWorld(shape, { endpoint: emulator.endpoint });
      const extra: Record<string, string> = {
        ...(await world.workerEnvironment()),
        AWS_ENDPOINT_URL: emulator.endpoint,
      };
      if (shape.dataPath === 'worker-volume') {
        deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
        extra.WORKER_INSTANCE_ID = await launchInstance(world.source);
        extra.WORKER_DEVICE_DIR = deviceDir;
      }
      const env = workerEnv(pipeline, world.source, backup, extra);
      workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));
      if (shape.mode === 'cross-account') workers.push(startWorker('share-worker', env));

      const id = await startRestore(pipeline, world.request(backup.restorePoint.id), {
        restorePoint: backup.restorePoint,
        sourceAccountId: world.source.id,
      });
      const restore = await waitForEnd(pipeline.store, id, 500_000);
      expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
      const volumeIds = restore.result?.volumes.map((v) => v.volumeId) ?? [];
      expect(volumeIds).toHaveLength(DEVICES.length);
      const { Volumes = [] } = await world.target.aws.ec2.send(
        new DescribeVolumesCommand({ VolumeIds: volumeIds }),
      );
      for (const volume of Volumes)
        expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });

      await jobResult(pipeline, QueueName.Instance, jobIdFor(id, 'cleanup'), workers);
      await expectNothingLeft(world, id);
    },
  );
});

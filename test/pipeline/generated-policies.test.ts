import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { jobIdFor, QueueName } from '@ec2-restore/contracts';
import { plan } from '@ec2-restore/preflight';
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
 * Restores run by principals that hold ONLY the generated policies (generated-world.ts): the worker
 * processes use a session of the generated worker role, the steps in another account assume the
 * generated restore role, and the keys allow only the generated statements beside the account's own
 * root statement. The emulator refuses every call those policies do not allow, so each restore that
 * succeeds here proves the generator covers every call of its mode, data path and KMS grant mode;
 * before each restore, the pre-flight (as the same principals) passes every check.
 *
 * kmsGrant auto: the restore role holds no statement for the source default key. It uses that key
 * through the grant the share step creates, and a grant alone lets its grantee use the key, in
 * another account too ("the grant allows the grantee principal to call the specified grant
 * operations on the KMS key", https://docs.aws.amazon.com/kms/latest/developerguide/grants.html).
 */

const DEVICES = ['/dev/xvda', '/dev/xvdb'];

interface Case extends GeneratedWorldShape {
  /** Volume-level: one volume into an existing instance of the target account. */
  volumeLevel?: boolean;
}

const CASES: Case[] = [
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none' },
  { mode: 'same-account', dataPath: 'worker-volume', kmsGrant: 'none' },
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none', volumeLevel: true },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'none' },
  { mode: 'cross-account', dataPath: 'worker-volume', kmsGrant: 'auto' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto', volumeLevel: true },
];

describe('restores as principals holding only the generated policies (IAM enforced by the emulator)', () => {
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

  it.each(CASES)(
    '$mode, $dataPath, kmsGrant $kmsGrant, volume-level $volumeLevel: pre-flight passes, the restore succeeds, nothing is left',
    {
      timeout: 600_000,
    },
    async (c) => {
      pipeline = openPipeline();
      world = await generatedWorld(c);
      const existing = c.volumeLevel ? await launchInstance(world.target) : undefined;
      const request = world.request(backup.restorePoint.id, {
        ...(existing ? { instance: { instanceId: existing }, volumes: ['/dev/xvdb'] } : {}),
      });

      const preflight = await plan(request, {
        sourceCredentials: world.workerCredentials(),
        restorePoint: backup.restorePoint,
      });
      expect(preflight.checks.filter((check) => check.status !== 'pass')).toEqual([]);

      const extra: Record<string, string> = await world.workerEnvironment();
      if (c.dataPath === 'worker-volume') {
        deviceDir = await mkdtemp(join(tmpdir(), 'ec2r-devices-'));
        extra.WORKER_INSTANCE_ID = await launchInstance(world.source);
        extra.WORKER_DEVICE_DIR = deviceDir;
      }
      const env = workerEnv(pipeline, world.source, backup, extra);
      workers.push(startWorker('snapshot-worker', env), startWorker('instance-worker', env));
      if (c.mode === 'cross-account') workers.push(startWorker('share-worker', env));

      const id = await startRestore(pipeline, request, {
        restorePoint: backup.restorePoint,
        sourceAccountId: world.source.id,
      });
      const restore = await waitForEnd(pipeline.store, id, 400_000);
      expect(restore.status, workers.map((w) => w.output()).join('\n')).toBe('succeeded');
      expect(restore.result?.accountId).toBe(world.target.id);
      if (existing) expect(restore.result?.instanceId).toBe(existing);
      const volumeIds = restore.result?.volumes.map((v) => v.volumeId) ?? [];
      expect(volumeIds).toHaveLength(c.volumeLevel ? 1 : DEVICES.length);
      const { Volumes = [] } = await world.target.aws.ec2.send(
        new DescribeVolumesCommand({ VolumeIds: volumeIds }),
      );
      for (const volume of Volumes) {
        expect(volume).toMatchObject({ Encrypted: true, KmsKeyId: world.targetKey });
        expect(volume.Attachments?.[0]?.InstanceId).toBe(restore.result?.instanceId);
      }
      await jobResult(pipeline, QueueName.Instance, jobIdFor(id, 'cleanup'), workers);
      await expectNothingLeft(world, id);
    },
  );
});

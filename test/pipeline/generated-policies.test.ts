import type { RunningEmulator } from '@ec2-restore/local-aws';
import { plan } from '@ec2-restore/preflight';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Backup,
  createBackup,
  launchInstance,
  openPipeline,
  type Pipeline,
  removeBackup,
} from '../support/index.ts';
import { startEmulatorWith } from '../support/own-emulator.ts';
import {
  expectRestoredVolumes,
  type GeneratedWorld,
  type GeneratedWorldShape,
  generatedWorld,
  restoreAsGeneratedPrincipals,
} from './generated-world.ts';

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

let backup: Backup;
let pipeline: Pipeline | undefined;
let world: GeneratedWorld | undefined;
beforeAll(async () => {
  backup = await createBackup(DEVICES);
}, 300_000);
afterAll(async () => {
  await removeBackup(backup);
});
afterEach(async () => {
  await pipeline?.close();
  world?.destroy();
});

describe('restores as principals holding only the generated policies (IAM enforced by the emulator)', () => {
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

      const restore = await restoreAsGeneratedPrincipals(world, { pipeline, backup, request });
      if (existing) expect(restore.result?.instanceId).toBe(existing);
      await expectRestoredVolumes(world, restore, c.volumeLevel ? 1 : DEVICES.length);
    },
  );
});

/*
 * The same, on an emulator that is eventually consistent the way AWS is: every new volume,
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

describe(`the same, with new ids, shares and grants taking up to ${WINDOW_MS} ms to show`, () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulatorWith({ EC2RESTORE_EMULATOR_CONSISTENCY_MS: String(WINDOW_MS) });
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  const SHAPES: GeneratedWorldShape[] = [
    // The grant of kmsGrant auto, the shared snapshots, the new volumes and the new instance.
    { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto' },
    // The worker's temporary volume and its snapshot.
    { mode: 'same-account', dataPath: 'worker-volume', kmsGrant: 'none' },
  ];

  it.each(SHAPES)(
    '$mode, $dataPath, kmsGrant $kmsGrant: the restore succeeds and leaves nothing behind',
    {
      timeout: 600_000,
    },
    async (shape) => {
      pipeline = openPipeline();
      world = await generatedWorld(shape, { endpoint: emulator.endpoint });
      const request = world.request(backup.restorePoint.id);
      const restore = await restoreAsGeneratedPrincipals(world, {
        pipeline,
        backup,
        request,
        endpoint: emulator.endpoint,
      });
      await expectRestoredVolumes(world, restore, DEVICES.length);
    },
  );
});

import type { RunningEmulator } from '@ec2-restore/local-aws';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type Backup, createBackup, removeBackup } from '../support/index.ts';
import { startEmulatorWith } from '../support/own-emulator.ts';
import { type GeneratedRestoreCase, RECORDED_LINUX, restoreGeneratedCase } from './generated-world.ts';

/*
 * Restores as principals holding only the generated policies (as generated-policies.test.ts), on an
 * emulator that is eventually consistent the way AWS is: every new volume, instance, snapshot and
 * image id answers Invalid*.NotFound for 1.5-3 s after the call that made it
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html), a new EBS direct
 * snapshot is "not found" for PutSnapshotBlock for as long, a snapshot shared with the target account
 * shows up there only after a moment, and a new KMS grant works only after a moment without its
 * grant token (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-eventual-consistency),
 * which EBS cannot pass. A step that read NotFound right after a create as "gone" (a KMS failure),
 * or created the volumes right after CreateGrant, failed these restores; they succeed and leave
 * nothing behind.
 */

const WINDOW_MS = 3000;

const CASES: GeneratedRestoreCase[] = [
  // The grant of kmsGrant auto, the shared snapshots, the new volumes and the new instance.
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto' },
  // The worker's temporary volume and its snapshot.
  { mode: 'same-account', dataPath: 'worker-volume', kmsGrant: 'none' },
];

let backup: Backup;
let emulator: RunningEmulator;
beforeAll(async () => {
  [backup, emulator] = await Promise.all([
    createBackup(['/dev/xvda', '/dev/xvdb'], undefined, { instance: RECORDED_LINUX }),
    startEmulatorWith({ EC2RESTORE_EMULATOR_CONSISTENCY_MS: String(WINDOW_MS) }),
  ]);
}, 300_000);
afterAll(async () => {
  await Promise.all([emulator?.stop(), backup && removeBackup(backup)]);
});

describe.concurrent(`generated policies, with new ids, shares and grants taking up to ${WINDOW_MS} ms to show`, () => {
  it.each(CASES)(
    '$mode, $dataPath, kmsGrant $kmsGrant: pre-flight passes, the restore succeeds, nothing is left',
    { timeout: 600_000 },
    (c) => restoreGeneratedCase(c, backup, { endpoint: emulator.endpoint }),
  );
});

import { afterAll, beforeAll, describe, it } from 'vitest';
import { type Backup, createBackup, removeBackup } from '../support/index.ts';
import { type GeneratedRestoreCase, RECORDED_LINUX, restoreGeneratedCase } from './generated-world.ts';

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
 *
 * Each restore has its own accounts, pipeline and worker processes: they run at once
 * (generated-policies-consistency.test.ts runs two more on an eventually consistent emulator).
 */

const CASES: GeneratedRestoreCase[] = [
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none' },
  { mode: 'same-account', dataPath: 'worker-volume', kmsGrant: 'none' },
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none', volumeLevel: true },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'none' },
  { mode: 'cross-account', dataPath: 'worker-volume', kmsGrant: 'auto' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto', volumeLevel: true },
  // The transfer key: the worker creates it (CreateKey, CreateAlias), writes with it and grants it.
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto', transferKey: true },
  // Whole-instance restores above launch with register-image (a Linux restore point; cross-account
  // it copies the shared root snapshot first); these with launch-and-swap (an Amazon base image from
  // AWS's public SSM parameters, its root volume swapped).
  { mode: 'same-account', dataPath: 'ebs-direct', kmsGrant: 'none', launch: 'launch-and-swap' },
  { mode: 'cross-account', dataPath: 'ebs-direct', kmsGrant: 'auto', launch: 'launch-and-swap' },
];

let backup: Backup;
beforeAll(async () => {
  backup = await createBackup(['/dev/xvda', '/dev/xvdb'], undefined, { instance: RECORDED_LINUX });
}, 300_000);
afterAll(async () => {
  await removeBackup(backup);
});

describe.concurrent('restores as principals holding only the generated policies (IAM enforced by the emulator)', () => {
  it.each(CASES)(
    '$mode, $dataPath, kmsGrant $kmsGrant, volume-level $volumeLevel, transfer key $transferKey, launch $launch: pre-flight passes, the restore succeeds, nothing is left',
    { timeout: 600_000 },
    (c) => restoreGeneratedCase(c, backup),
  );
});

import type { CheckId, DataPath, KmsGrantMode, RestoreMode } from '@ec2-restore/contracts';
import type { KeyOperationId } from './operations.ts';

/** Which principal uses which key for what, in one restore configuration. */
export interface KeyUseRequirement {
  checkId: CheckId;
  principal: 'worker-role' | 'restore-role';
  key: 'target' | 'source-default' | 'transfer';
  operations: KeyOperationId[];
}

/** The parts of a restore that decide who needs which key. */
export interface RestoreShape {
  mode: RestoreMode;
  dataPath: DataPath;
  kmsGrant: KmsGrantMode;
  /** A restore role is named in the request (always for another account). */
  hasRestoreRole: boolean;
  /** Another account: the snapshots are written with the transfer key, not the source default key. */
  transferKey?: boolean;
}

/**
 * Who needs which key (docs/architecture.md#the-two-flows):
 * - same account: the worker role writes the data encrypted with the target key (EBS direct
 *   snapshot, or a volume attached to the worker); the restore role, when one is given, creates
 *   the volumes and the instance (else the worker role does that too).
 * - another account: the worker role writes with the source default key (and lists its grants: cleanup
 *   revokes the restore's grant); the restore role creates volumes from the shared snapshots, which uses
 *   the source default key and the target key. With kmsGrant "auto" the worker role grants the restore
 *   role the source default key instead of relying on its key policy.
 * - another account with the transfer key: the same, with the transfer key in place of the source
 *   default key; its key policy (written by the product) always names the restore role.
 * The worker role also reads the state of the key it writes with itself (DescribeKey, not through EBS):
 * before writing, and to name the key when a snapshot ends in the error state.
 */
export function keyUseRequirements(shape: RestoreShape): KeyUseRequirement[] {
  const write: KeyOperationId =
    shape.dataPath === 'ebs-direct' ? 'write-snapshot-ebs-direct' : 'create-encrypted-volume';
  if (shape.mode === 'same-account') {
    const workerOps: KeyOperationId[] = [write, 'read-key-state'];
    if (!shape.hasRestoreRole && write !== 'create-encrypted-volume')
      workerOps.push('create-encrypted-volume');
    const requirements: KeyUseRequirement[] = [
      {
        checkId: 'target-key.access.worker-role',
        principal: 'worker-role',
        key: 'target',
        operations: workerOps,
      },
    ];
    if (shape.hasRestoreRole) {
      requirements.push({
        checkId: 'target-key.access.restore-role',
        principal: 'restore-role',
        key: 'target',
        operations: ['create-encrypted-volume'],
      });
    }
    return requirements;
  }
  // Cleanup looks for the restore's grant on the key the snapshots were written with, whatever kmsGrant was.
  const workerOps: KeyOperationId[] = [write, 'read-key-state', 'find-restore-grant'];
  if (shape.kmsGrant === 'auto') workerOps.push('grant-key-to-restore-role');
  if (shape.transferKey) {
    return [
      {
        checkId: 'transfer-key.access.worker-role',
        principal: 'worker-role',
        key: 'transfer',
        operations: workerOps,
      },
      {
        checkId: 'target-key.access.restore-role',
        principal: 'restore-role',
        key: 'target',
        operations: ['create-volume-from-shared-snapshot'],
      },
      {
        checkId: 'transfer-key.access.restore-role',
        principal: 'restore-role',
        key: 'transfer',
        operations: ['share-encrypted-snapshot'],
      },
    ];
  }
  const requirements: KeyUseRequirement[] = [
    {
      checkId: 'source-default-key.access.worker-role',
      principal: 'worker-role',
      key: 'source-default',
      operations: workerOps,
    },
    {
      checkId: 'target-key.access.restore-role',
      principal: 'restore-role',
      key: 'target',
      operations: ['create-volume-from-shared-snapshot'],
    },
  ];
  if (shape.kmsGrant === 'none') {
    requirements.push({
      checkId: 'source-default-key.access.restore-role',
      principal: 'restore-role',
      key: 'source-default',
      operations: ['share-encrypted-snapshot'],
    });
  }
  return requirements;
}

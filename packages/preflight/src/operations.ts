/**
 * The KMS actions each EBS operation of a restore needs on a key, as data, each with the AWS
 * documentation it comes from. `kms:ReEncrypt*` stands for kms:ReEncryptFrom and kms:ReEncryptTo.
 */

export type KeyOperationId =
  | 'create-encrypted-volume'
  | 'create-volume-from-shared-snapshot'
  | 'write-snapshot-ebs-direct'
  | 'share-encrypted-snapshot'
  | 'grant-key-to-restore-role'
  | 'find-restore-grant'
  | 'read-key-state';

export interface KeyOperation {
  id: KeyOperationId;
  /** What the principal does, for messages: "create encrypted EBS volumes". */
  description: string;
  /** Actions as they appear in policies (may contain `*`). */
  policyActions: readonly string[];
  /** The service the KMS calls come through (`kms:ViaService` = `<service>.<region>.amazonaws.com`). */
  viaService: 'ec2' | 'ebs' | undefined;
  documentation: string;
}

/**
 * What EC2 does with a key to create (or re-encrypt into) an encrypted volume on the caller's behalf
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html#ebs-encryption-permissions).
 */
const CREATE_VOLUME_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
];

export const keyOperations: Readonly<Record<KeyOperationId, KeyOperation>> = {
  'create-encrypted-volume': {
    id: 'create-encrypted-volume',
    description: 'create EBS volumes encrypted with the key',
    policyActions: CREATE_VOLUME_ACTIONS,
    viaService: 'ec2',
    documentation:
      'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html#ebs-encryption-permissions',
  },
  'create-volume-from-shared-snapshot': {
    id: 'create-volume-from-shared-snapshot',
    description: 'create EBS volumes from a shared encrypted snapshot, re-encrypted with another key',
    policyActions: CREATE_VOLUME_ACTIONS,
    viaService: 'ec2',
    documentation: 'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html',
  },
  'write-snapshot-ebs-direct': {
    id: 'write-snapshot-ebs-direct',
    description: 'write encrypted snapshots with the EBS direct APIs (StartSnapshot with KmsKeyArn)',
    policyActions: [
      'kms:CreateGrant',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:Encrypt',
      'kms:GenerateDataKey',
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:ReEncrypt*',
    ],
    viaService: 'ebs',
    documentation: 'https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-permissions.html',
  },
  'share-encrypted-snapshot': {
    id: 'share-encrypted-snapshot',
    description: 'use the key of a snapshot shared with it (the target account)',
    policyActions: CREATE_VOLUME_ACTIONS,
    viaService: 'ec2',
    documentation: 'https://docs.aws.amazon.com/ebs/latest/userguide/share-kms-key.html',
  },
  'grant-key-to-restore-role': {
    id: 'grant-key-to-restore-role',
    description:
      'grant the restore role the key for the length of the restore (kmsGrant "auto") and revoke it afterwards',
    policyActions: ['kms:CreateGrant', 'kms:RevokeGrant'],
    // Called by the product itself, not through EBS: no kms:ViaService, no kms:GrantIsForAWSResource.
    viaService: undefined,
    documentation: 'https://docs.aws.amazon.com/kms/latest/developerguide/create-grant-overview.html',
  },
  'find-restore-grant': {
    id: 'find-restore-grant',
    description:
      "find the restore's grant on the key by its name (the share step before it grants, cleanup to revoke it; " +
      'cleanup looks whatever kmsGrant was)',
    policyActions: ['kms:ListGrants'],
    viaService: undefined,
    documentation: 'https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html',
  },
  'read-key-state': {
    id: 'read-key-state',
    description:
      "read the key's state (the snapshot step, before writing with it and when a snapshot ends in the error state)",
    policyActions: ['kms:DescribeKey'],
    // Called by the product itself: a key policy that allows DescribeKey only through EC2 does not allow it.
    viaService: undefined,
    documentation: 'https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html',
  },
};

export { RESTORE_ROLE_GRANT_OPERATIONS } from '@ec2-restore/contracts';

/** The grant the pre-flight evaluates CreateGrant of `grant-key-to-restore-role` with. */
export interface GrantRequest {
  /** The restore role ARN. */
  grantee: string;
  operations: readonly string[];
}

/** Concrete KMS action names of policy actions: `kms:ReEncrypt*` becomes ReEncryptFrom and ReEncryptTo. */
export function concreteActions(policyActions: readonly string[]): string[] {
  const out = new Set<string>();
  for (const action of policyActions) {
    if (action === 'kms:ReEncrypt*') {
      out.add('kms:ReEncryptFrom');
      out.add('kms:ReEncryptTo');
    } else out.add(action);
  }
  return [...out];
}

/**
 * The request context of a KMS call an AWS service makes on the caller's behalf: `kms:ViaService`,
 * and `kms:GrantIsForAWSResource` true for CreateGrant (EBS creates grants for the volume).
 * See https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
 */
export function serviceCallContext(
  operation: KeyOperation,
  action: string,
  region: string,
  grant?: GrantRequest,
): Record<string, string | readonly string[]> {
  if (operation.viaService === undefined) {
    // The product's own CreateGrant: the grantee and operations it asks for are condition keys.
    if (action !== 'kms:CreateGrant' || !grant) return {};
    return { 'kms:GranteePrincipal': grant.grantee, 'kms:GrantOperations': grant.operations };
  }
  const context: Record<string, string | readonly string[]> = {
    'kms:ViaService': `${operation.viaService}.${region}.amazonaws.com`,
  };
  if (action === 'kms:CreateGrant') context['kms:GrantIsForAWSResource'] = 'true';
  return context;
}

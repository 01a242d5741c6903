/**
 * The operations of the grant the worker role gives the restore role on the key of the shared
 * snapshots (kmsGrant "auto"): exactly what creating a volume from such a snapshot, re-encrypted
 * with the target key, asks of the snapshot's key. DescribeKey, Decrypt and ReEncryptFrom read the
 * data key; CreateGrant because EBS creates a grant for the new volume in the caller's name
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html, "share
 * the KMS key"), and a grantee can only grant on what its own grant allows. No
 * GenerateDataKey*: the new volume's data key comes from the target key.
 */
export const RESTORE_ROLE_GRANT_OPERATIONS = [
  'CreateGrant',
  'Decrypt',
  'DescribeKey',
  'ReEncryptFrom',
] as const;

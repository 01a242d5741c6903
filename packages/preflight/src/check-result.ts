import type { Check, CheckId, Remedy } from '@ec2-restore/contracts';

/** What a check returns, and the AWS pages its remedies link to. */

export function pass(id: CheckId, message: string): Check {
  return { id, status: 'pass', message, remedy: null };
}
export function fail(id: CheckId, message: string, remedy: Remedy): Check {
  return { id, status: 'fail', message, remedy };
}
export function warn(id: CheckId, message: string, remedy: Remedy | null): Check {
  return { id, status: 'warn', message, remedy };
}

export const kmsLinks = {
  keyState: 'https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html',
  ebsEncryption: 'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html',
  shareSnapshot: 'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html',
  defaultKey: 'https://docs.aws.amazon.com/ebs/latest/userguide/work-with-ebs-encr.html',
  multiRegion: 'https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html',
  assumeRole: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html',
} as const;

import { classifyAwsError } from '@ec2-restore/aws-clients';

/**
 * Already gone: EC2's `InvalidVolume.NotFound`, `InvalidSnapshot.NotFound`,
 * `InvalidInstanceID.NotFound`, `InvalidAMIID.NotFound`, KMS's `NotFoundException` (a revoked grant).
 * Removals overlap (a restore's own cleanup, the one a cancelled job requests, every sweep replica),
 * so a removal that finds nothing has reached its goal.
 */
export function isNotFound(error: unknown): boolean {
  return /NotFound(Exception)?$/.test(classifyAwsError(error).code);
}

/** Runs a remove-like call: true when it ran, false when the resource no longer existed. */
export async function ifStillThere(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

import type { RestoreStatus } from '@ec2-restore/restore-state';
import { UnrecoverableError } from 'bullmq';

/**
 * The restore was cancelled or failed elsewhere (another volume's job) while this job ran: stop
 * without retrying. Cleanup removes what the restore made.
 */
export class RestoreEndedError extends UnrecoverableError {
  constructor(
    readonly restoreId: string,
    readonly status: RestoreStatus,
  ) {
    super(`restore ${restoreId} is ${status}: this step stops`);
    this.name = 'RestoreEndedError';
  }
}

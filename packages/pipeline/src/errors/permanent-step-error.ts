import type { ErrorCategory, ErrorCode, VerificationFailure } from '@ec2-restore/contracts';
import { UnrecoverableError } from 'bullmq';

export interface PermanentStepErrorDetails {
  code: ErrorCode;
  category: ErrorCategory;
  /** The x-amzn-RequestId of the refused AWS call, when an AWS call was refused. */
  awsRequestId?: string;
  /** AWS's own error code (`AccessDeniedException`), kept for the message and logs. */
  awsCode?: string;
  /** What a verified restore's read-back found (code `verification_failed`). */
  verification?: VerificationFailure;
}

/**
 * A refusal that another attempt cannot fix (a key policy, a missing permission, a quota, bad
 * input): BullMQ fails the job at once instead of retrying it, and the restore fails with this
 * error's code, category and AWS request id.
 */
export class PermanentStepError extends UnrecoverableError {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  readonly awsRequestId: string | undefined;
  readonly awsCode: string | undefined;
  readonly verification: VerificationFailure | undefined;

  constructor(message: string, details: PermanentStepErrorDetails) {
    super(message);
    this.name = 'PermanentStepError';
    this.code = details.code;
    this.category = details.category;
    this.awsRequestId = details.awsRequestId;
    this.awsCode = details.awsCode;
    this.verification = details.verification;
  }
}

/** Where a block write failed for good: the snapshot, the block and how many requests it took. */
export interface BlockWriteLocation {
  snapshotId: string;
  deviceName: string;
  blockIndex: number;
  attempts: number;
}

/** The fields by which callers classify an AWS error (classifyAwsError, decideRetry): kept as they were. */
const AWS_ERROR_FIELDS = ['Code', 'Reason', '$fault', '$metadata'] as const;

/**
 * A block write that failed after its retry budget, or with an error that is not retried. EBS's own
 * error ("An internal error has occurred.") names neither the snapshot nor the block; this one does,
 * and keeps the AWS error's name, code, fault and metadata, so it is classified exactly as the AWS
 * error was (retryable or not, its category and request id). The AWS error is the `cause`.
 */
export class BlockWriteError extends Error {
  readonly snapshotId: string;
  readonly deviceName: string;
  readonly blockIndex: number;
  readonly attempts: number;
  declare readonly Code?: string;
  declare readonly Reason?: string;
  declare readonly $fault?: string;
  declare readonly $metadata?: unknown;

  constructor(cause: unknown, where: BlockWriteLocation) {
    const e = (typeof cause === 'object' && cause !== null ? cause : {}) as Record<string, unknown>;
    const message = typeof e.message === 'string' ? e.message : String(cause);
    const tries = where.attempts === 1 ? '1 attempt' : `${where.attempts} attempts`;
    super(
      `Block ${where.blockIndex} of ${where.deviceName} could not be written to snapshot ${where.snapshotId} ` +
        `(${tries}): ${message}`,
      { cause },
    );
    this.name = typeof e.name === 'string' ? e.name : 'Error';
    this.snapshotId = where.snapshotId;
    this.deviceName = where.deviceName;
    this.blockIndex = where.blockIndex;
    this.attempts = where.attempts;
    for (const field of AWS_ERROR_FIELDS) {
      if (e[field] !== undefined) Object.defineProperty(this, field, { value: e[field], enumerable: true });
    }
  }
}

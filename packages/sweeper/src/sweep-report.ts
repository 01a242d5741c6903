/** The options and the report of a sweep. */
import type { AwsCredentials } from '@ec2-restore/aws-clients';
import type { RestoreStore } from '@ec2-restore/restore-state';
import type { PlannedRemoval, SkippedResource, TaggedResource } from './find-leftovers.ts';

/** The account the workers run as (it holds the temporary snapshots and worker volumes). */
export interface SweepSource {
  /** @defaultValue the SDK's default chain */
  credentials?: AwsCredentials;
  /** Swept always; the regions of the targets are swept in this account too (snapshot jobs run there). */
  region: string;
  /** @defaultValue `process.env.AWS_ENDPOINT_URL` */
  endpoint?: string;
}

/** A restore role in a target account, assumed from the source credentials. */
export interface SweepTarget {
  roleArn: string;
  externalId?: string;
  region: string;
}

export interface SweepOptions {
  store: RestoreStore;
  source: SweepSource;
  /** Configured targets; the targets named by the stored restores' requests are added. */
  targets: readonly SweepTarget[];
  /** Resources younger than this are left alone. */
  minAgeMinutes: number;
  /** Report what would be removed, remove nothing. */
  dryRun: boolean;
  /**
   * How many stored restores are read to learn target roles (newest first).
   * @defaultValue 1000
   */
  restoresToScan?: number;
  /**
   * How long one sweep waits for a volume it detached to become available. A volume still attached
   * then is looked at again by the next sweep, and reported in `failed` once it has not detached
   * within `DETACH_GRACE_MS` (10 minutes) of the first request: the sweep never forces a detach.
   * @defaultValue 30000
   */
  detachTimeoutMs?: number;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** One account and region that was searched. */
export interface ScannedLocation {
  accountId: string;
  region: string;
  /** The role assumed, for target accounts. */
  roleArn?: string;
  volumes: number;
  snapshots: number;
  /** Temporary images of the register-image launch strategy. */
  images: number;
}

export interface RemovedResource extends PlannedRemoval {
  /** Accounts (or `all` for public) whose createVolumePermission was withdrawn first. */
  unsharedFrom: string[];
  /** Volumes: detached (never with force) before deletion, if it was attached. */
  detached?: 'normal';
}

export interface FailedRemoval extends PlannedRemoval {
  error: string;
}

/** A removal that goes on in AWS (a volume detaching) and that the next sweep finishes. */
export interface PendingRemoval extends PlannedRemoval {
  detail: string;
}

/** A location that could not be searched (e.g. the role could not be assumed). */
export interface LocationError {
  roleArn?: string;
  region: string;
  error: string;
}

export interface SweepReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  minAgeMinutes: number;
  scanned: ScannedLocation[];
  /** Every resource carrying the product's restore-id tag. */
  found: TaggedResource[];
  /** What the rules chose; removed (or, in a dry run, would be removed). */
  planned: PlannedRemoval[];
  removed: RemovedResource[];
  skipped: SkippedResource[];
  /** Volumes asked to detach, not available yet: the next sweep deletes them. */
  detaching: PendingRemoval[];
  failed: FailedRemoval[];
  locationErrors: LocationError[];
}

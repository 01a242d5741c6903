/**
 * The restore record as kept in Redis by {@link RestoreStore}: the model of `@ec2-restore/contracts`
 * (docs/architecture.md#the-restore-lifecycle), with the request stored as given (the API validated it).
 */
import type {
  RestoreEvent,
  RestoreProgress,
  Restore as RestoreResource,
  StepStatus,
} from '@ec2-restore/contracts';

export {
  type RestoreError,
  type RestoreEvent,
  type RestoreMode,
  type RestoreProgress,
  type RestoreResult,
  type RestoreStatus,
  type RestoreStep,
  restoreStatuses,
  type StepStatus,
  stepStatuses,
  terminalRestoreStatuses,
} from '@ec2-restore/contracts';

/** A step's end states, accepted by {@link RestoreStore.finishStep}. */
export type FinishedStepStatus = Exclude<StepStatus, 'pending' | 'running'>;

export type VolumeProgress = RestoreProgress['volumes'][number];

/** A restore as stored; `Request` is the request type the caller expects back (the API's `RestoreRequest`). */
export type Restore<Request = unknown> = Omit<RestoreResource, 'request'> & { request: Request };

/** What {@link RestoreStore.create} needs; everything else starts empty. */
export interface NewRestore<Request = unknown> {
  id: string;
  mode: RestoreResource['mode'];
  request: Request;
  /** Step names known up front (shown as `pending` until they start), in order. */
  steps?: readonly string[];
  /** Volumes known up front with their size in bytes, so progress has a total from the start. */
  volumes?: readonly { deviceName: string; bytesTotal: number }[];
}

export type RestoreEventType = RestoreEvent['type'];

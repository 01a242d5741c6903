/**
 * The restore record as kept in Redis by {@link RestoreStore}: the model of `@ec2-restore/contracts`
 * (docs/architecture.md#the-restore-lifecycle), with the request stored as given (the API validated it).
 */
import type {
  ProgressEventData,
  RestoreProgress,
  Restore as RestoreResource,
  RestoreStatus,
  StepStatus,
} from '@ec2-restore/contracts';

export {
  type RestoreError,
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

/**
 * One change of a restore, as delivered by {@link RestoreStore.subscribe}. `id` is the Redis stream
 * entry id: pass it back as `after` to resume (it is also the SSE event id).
 */
export type RestoreEvent =
  | { id: string; type: 'status'; data: { status: RestoreStatus; previous: RestoreStatus } }
  | { id: string; type: 'step'; data: { name: string; status: StepStatus; attempts: number } }
  | {
      id: string;
      type: 'progress';
      data: ProgressEventData;
    }
  | {
      id: string;
      type: 'end';
      data: { status: RestoreStatus; result: RestoreResource['result']; error: RestoreResource['error'] };
    };

export type RestoreEventType = RestoreEvent['type'];

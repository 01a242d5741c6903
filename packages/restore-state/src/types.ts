/**
 * The shape of a restore as clients see it (docs/architecture.md#the-public-interface), as kept in Redis by
 * {@link RestoreStore}. The request is stored as given (already validated by the API).
 */

/** Lifecycle of a whole restore. */
export const restoreStatuses = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
] as const;
export type RestoreStatus = (typeof restoreStatuses)[number];

/** Statuses after which nothing changes any more. */
export const terminalRestoreStatuses: readonly RestoreStatus[] = ['succeeded', 'failed', 'cancelled'];

/** Lifecycle of one step (one job, e.g. the snapshot of one volume). */
export const stepStatuses = ['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof stepStatuses)[number];

/** A step's end states, accepted by {@link RestoreStore.finishStep}. */
export type FinishedStepStatus = Exclude<StepStatus, 'pending' | 'running'>;

export type RestoreMode = 'same-account' | 'cross-account';

export interface RestoreStep {
  name: string;
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface VolumeProgress {
  deviceName: string;
  bytesTotal: number;
  bytesDone: number;
}

export interface RestoreProgress {
  bytesTotal: number;
  bytesDone: number;
  volumes: VolumeProgress[];
}

export interface RestoredVolume {
  deviceName: string;
  volumeId: string;
  kmsKeyId: string;
  sizeGiB: number;
}

export interface RestoreResult {
  instanceId: string | null;
  accountId: string;
  region: string;
  volumes: RestoredVolume[];
}

/** Why a restore failed; `category` is one of the error categories of docs/architecture.md#the-public-interface. */
export interface RestoreError {
  code: string;
  message: string;
  category: 'input' | 'kms' | 'permission' | 'quota' | 'throttling' | 'aws' | 'internal';
  step: string | null;
  awsRequestId: string | null;
}

export interface Restore<Request = unknown> {
  id: string;
  status: RestoreStatus;
  mode: RestoreMode;
  createdAt: string;
  updatedAt: string;
  request: Request;
  steps: RestoreStep[];
  progress: RestoreProgress;
  result: RestoreResult | null;
  error: RestoreError | null;
}

/** What {@link RestoreStore.create} needs; everything else starts empty. */
export interface NewRestore<Request = unknown> {
  id: string;
  mode: RestoreMode;
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
      data: { deviceName: string; bytesDone: number; bytesTotal: number; totalDone: number; total: number };
    }
  | {
      id: string;
      type: 'end';
      data: { status: RestoreStatus; result: RestoreResult | null; error: RestoreError | null };
    };

export type RestoreEventType = RestoreEvent['type'];

import type { ProgressEventData, RestoreError, RestoreResult } from './restore.ts';
import type { RestoreStatus, StepStatus } from './statuses.ts';

/**
 * One change of a restore: an event of GET /v1/restores/{id}/events, as `RestoreStore.subscribe`
 * (`@ec2-restore/restore-state`) delivers it. `id` is the Redis stream entry id: pass it back as
 * `after` to resume (it is also the SSE event id).
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
      data: { status: RestoreStatus; result: RestoreResult | null; error: RestoreError | null };
    };

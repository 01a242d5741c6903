/**
 * The start of a restore's lifecycle: accepting a request. Idempotency, the pre-flight plan, the
 * record (`queued`, its steps `pending`), the flow, and the compensation when the flow cannot be added
 * (the record is marked `failed`: nothing was started). The HTTP route only maps the outcome to a
 * response.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  GIB,
  type PlanResult,
  type RestorePointSummary,
  type RestoreRequest,
  restoreStepNames,
  selectVolumes,
} from '@ec2-restore/contracts';
import type { Restore, RestoreStore } from '@ec2-restore/restore-state';

/** The pre-flight result and what the flow needs besides the request. */
export interface PlannedRestore {
  plan: PlanResult;
  /** The restore point, or null when the repository has none with the request's id. */
  restorePoint: RestorePointSummary | null;
  /** Account of the worker role, or null when it could not be determined (then a check failed). */
  sourceAccountId: string | null;
}

/** Runs the pre-flight checks with the credentials the steps will use. */
export interface RestorePlanner {
  plan(request: RestoreRequest): Promise<PlannedRestore>;
}

/** Starts the BullMQ flow of a stored restore (docs/architecture.md#services-and-queues). */
export interface RestoreLauncher {
  /** @returns the id of the flow's root job (the instance job). */
  start(restore: Restore<RestoreRequest>, planned: PlannedRestore): Promise<string>;
}

export interface AcceptRestorePorts {
  store: RestoreStore;
  planner: RestorePlanner;
  launcher: RestoreLauncher;
}

export type AcceptOutcome =
  /** Recorded and queued. */
  | {
      kind: 'accepted';
      restore: Restore<RestoreRequest>;
      mode: NonNullable<PlanResult['mode']>;
      jobId: string;
    }
  /** The same Idempotency-Key with the same request: the first restore (`null` when it has expired). */
  | { kind: 'replayed'; restoreId: string; restore: Restore<RestoreRequest> | null }
  /** The same Idempotency-Key with another request. */
  | { kind: 'idempotency-conflict'; restoreId: string }
  /** A check failed: nothing recorded, nothing queued. */
  | { kind: 'preflight-failed'; plan: PlanResult }
  /** Recorded, but the flow could not be added; the record is `failed`. */
  | { kind: 'not-queued'; restoreId: string; cause: unknown };

/**
 * Accepts a validated request. With an idempotency key, the key and a hash of the request are stored
 * with the restore in one atomic step; a repeated key answers the first restore without running the
 * checks again.
 */
export async function acceptRestore(
  ports: AcceptRestorePorts,
  request: RestoreRequest,
  idempotencyKey?: string,
): Promise<AcceptOutcome> {
  const { store } = ports;
  const bodyHash = hashRequest(request);
  if (idempotencyKey !== undefined) {
    const seen = await store.findIdempotencyKey(idempotencyKey, bodyHash);
    if (seen !== null) return repeated(store, seen.outcome, seen.restoreId);
  }

  const planned = await ports.planner.plan(request);
  if (!planned.plan.ok) return { kind: 'preflight-failed', plan: planned.plan };
  const { mode } = planned.plan;
  if (mode === null || planned.restorePoint === null || planned.sourceAccountId === null) {
    throw new Error('the pre-flight checks passed without a mode, restore point or worker account');
  }

  // The checks passed, so every requested device is in the restore point.
  const volumes = selectVolumes(planned.restorePoint.volumes, request.volumes).selected;
  const id = randomUUID();
  const created = await store.create(
    {
      id,
      mode,
      request,
      steps: restoreStepNames(
        mode,
        volumes.map((volume) => volume.deviceName),
      ),
      volumes: volumes.map((volume) => ({ deviceName: volume.deviceName, bytesTotal: volume.sizeGiB * GIB })),
    },
    idempotencyKey === undefined ? undefined : { key: idempotencyKey, bodyHash },
  );
  // Another request with the same key won the race while the checks ran.
  if (created.outcome !== 'created') return repeated(store, created.outcome, created.restoreId);

  try {
    const jobId = await ports.launcher.start(created.restore, planned);
    return { kind: 'accepted', restore: (await store.get(id)) ?? created.restore, mode, jobId };
  } catch (cause) {
    await store.fail(id, {
      code: 'service_unavailable',
      message: 'The restore could not be queued; it was not started. Try again.',
      category: 'internal',
      step: null,
      awsRequestId: null,
    });
    return { kind: 'not-queued', restoreId: id, cause };
  }
}

async function repeated(
  store: RestoreStore,
  outcome: 'existing' | 'conflict',
  restoreId: string,
): Promise<AcceptOutcome> {
  if (outcome === 'conflict') return { kind: 'idempotency-conflict', restoreId };
  return { kind: 'replayed', restoreId, restore: await store.get<RestoreRequest>(restoreId) };
}

/** A hash of the request's meaning: defaults applied, object keys sorted. */
export function hashRequest(request: RestoreRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

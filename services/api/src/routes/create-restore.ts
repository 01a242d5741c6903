import { createHash, randomUUID } from 'node:crypto';
import {
  type RestoreRequest,
  restoreRequestSchema,
  restoreStepNames,
  selectVolumes,
} from '@ec2-restore/contracts';
import type { Restore } from '@ec2-restore/restore-state';
import type { Request, RequestHandler, Response } from 'express';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import { validated } from '../http/validated.ts';
import { preflightFailed } from './preflight-failed.ts';

const GIB = 2 ** 30;
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * POST /v1/restores: validate, run the pre-flight checks (422 when one fails: nothing created,
 * nothing enqueued), store the restore and add its flow; 202 with the restore.
 *
 * `Idempotency-Key`: the key and a hash of the validated request are stored with the restore in
 * one atomic step; the same key with the same request answers the first restore (without running
 * the checks again), with another request 409 `idempotency_conflict`.
 */
export function createRestore(deps: ApiDeps): RequestHandler {
  return validated('body', restoreRequestSchema, async (request, req, res) => {
    const idempotencyKey = readIdempotencyKey(req);
    const bodyHash = hashRequest(request);
    if (idempotencyKey !== undefined) {
      const seen = await deps.store.findIdempotencyKey(idempotencyKey, bodyHash);
      if (seen !== null) {
        await answerRepeated(deps, res, idempotencyKey, seen.outcome, seen.restoreId);
        return;
      }
    }

    const planned = await deps.planner.plan(request);
    if (!planned.plan.ok) {
      for (const check of planned.plan.checks.filter((c) => c.status === 'fail')) {
        deps.metrics.preflightFailures.inc({ check: check.id });
      }
      throw preflightFailed(planned.plan);
    }
    if (planned.plan.mode === null || planned.restorePoint === null || planned.sourceAccountId === null) {
      throw new Error('the pre-flight checks passed without a mode, restore point or worker account');
    }

    // The checks passed, so every requested device is in the restore point.
    const volumes = selectVolumes(planned.restorePoint.volumes, request.volumes).selected;
    const id = randomUUID();
    const outcome = await deps.store.create(
      {
        id,
        mode: planned.plan.mode,
        request,
        steps: restoreStepNames(
          planned.plan.mode,
          volumes.map((volume) => volume.deviceName),
        ),
        volumes: volumes.map((volume) => ({
          deviceName: volume.deviceName,
          bytesTotal: volume.sizeGiB * GIB,
        })),
      },
      idempotencyKey === undefined ? undefined : { key: idempotencyKey, bodyHash },
    );
    if (outcome.outcome !== 'created') {
      // Another request with the same key won the race while the checks ran.
      await answerRepeated(deps, res, idempotencyKey ?? '', outcome.outcome, outcome.restoreId);
      return;
    }

    const log = deps.logger.child({ restoreId: id });
    let jobId: string;
    try {
      jobId = await deps.launcher.start(outcome.restore, planned);
    } catch (err) {
      log.error({ err }, 'could not add the restore flow');
      await deps.store.fail(id, {
        code: 'service_unavailable',
        message: 'The restore could not be queued; it was not started. Try again.',
        category: 'internal',
        step: null,
        awsRequestId: null,
      });
      throw new HttpError('service_unavailable', 'The restore could not be queued (Redis); try again', {
        restoreId: id,
      });
    }
    deps.metrics.restoresCreated.inc({ mode: planned.plan.mode });
    log.info({ jobId, mode: planned.plan.mode, restorePointId: request.restorePointId }, 'restore queued');
    res
      .status(202)
      .location(`/v1/restores/${id}`)
      .json((await deps.store.get(id)) ?? outcome.restore);
  });
}

async function answerRepeated(
  deps: ApiDeps,
  res: Response,
  key: string,
  outcome: 'existing' | 'conflict',
  restoreId: string,
): Promise<void> {
  if (outcome === 'conflict') {
    throw new HttpError(
      'idempotency_conflict',
      `Idempotency-Key "${key}" was used for another request (restore ${restoreId}); use a new key for a different request`,
      { restoreId },
    );
  }
  const restore: Restore | null = await deps.store.get(restoreId);
  if (restore === null) {
    throw new HttpError('not_found', `Restore ${restoreId} of Idempotency-Key "${key}" no longer exists`);
  }
  res.status(202).location(`/v1/restores/${restoreId}`).set('Idempotent-Replayed', 'true').json(restore);
}

function readIdempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!idempotencyKeyPattern.test(key)) {
    throw new HttpError('invalid_request', 'Idempotency-Key must be 1-255 visible ASCII characters', {
      issues: [{ path: 'headers.idempotency-key', message: 'must be 1-255 visible ASCII characters' }],
    });
  }
  return key;
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

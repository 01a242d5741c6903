import { restoreRequestSchema } from '@ec2-restore/contracts';
import { acceptRestore } from '@ec2-restore/pipeline';
import type { Request, RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import { validated } from '../http/validated.ts';
import { preflightFailed } from './preflight-failed.ts';

const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * POST /v1/restores: validate, then hand the request to the restore lifecycle (`acceptRestore` of
 * `@ec2-restore/pipeline`: idempotency, pre-flight checks, record, flow, compensation) and answer its
 * outcome: 202 with the restore, 409 `idempotency_conflict` for a key reused with another request,
 * 422 `preflight_failed` (nothing created, nothing enqueued), 503 when the flow could not be added.
 */
export function createRestore(deps: ApiDeps): RequestHandler {
  return validated('body', restoreRequestSchema, async (request, req, res) => {
    const idempotencyKey = readIdempotencyKey(req);
    const outcome = await acceptRestore(deps, request, idempotencyKey);
    switch (outcome.kind) {
      case 'replayed': {
        if (outcome.restore === null) {
          throw new HttpError(
            'not_found',
            `Restore ${outcome.restoreId} of Idempotency-Key "${idempotencyKey}" no longer exists`,
          );
        }
        res
          .status(202)
          .location(`/v1/restores/${outcome.restoreId}`)
          .set('Idempotent-Replayed', 'true')
          .json(outcome.restore);
        return;
      }
      case 'idempotency-conflict':
        throw new HttpError(
          'idempotency_conflict',
          `Idempotency-Key "${idempotencyKey}" was used for another request (restore ${outcome.restoreId}); use a new key for a different request`,
          { restoreId: outcome.restoreId },
        );
      case 'preflight-failed':
        for (const check of outcome.plan.checks.filter((c) => c.status === 'fail')) {
          deps.metrics.preflightFailures.inc({ check: check.id });
        }
        throw preflightFailed(outcome.plan);
      case 'not-queued':
        deps.logger
          .child({ restoreId: outcome.restoreId })
          .error({ err: outcome.cause }, 'could not add the restore flow');
        throw new HttpError('service_unavailable', 'The restore could not be queued (Redis); try again', {
          restoreId: outcome.restoreId,
        });
      case 'accepted': {
        const { restore } = outcome;
        deps.metrics.restoresCreated.inc({ mode: outcome.mode });
        deps.logger
          .child({ restoreId: restore.id })
          .info(
            { jobId: outcome.jobId, mode: outcome.mode, restorePointId: request.restorePointId },
            'restore queued',
          );
        res.status(202).location(`/v1/restores/${restore.id}`).json(restore);
      }
    }
  });
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

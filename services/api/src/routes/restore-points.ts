import { RestorePointNotFoundError, type RestorePointSummary } from '@ec2-restore/backup-repository';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import { sendJsonText } from '../http/send-json.ts';
import { validated } from '../http/validated.ts';
import { repositoryReadError, restorePointMissing } from '../preflight-planner.ts';

/**
 * GET /v1/restore-points: the catalogue of the backup repository, newest first. The repository hands
 * back the same list until the catalogue changes, so its JSON is built once per change, not per request.
 */
export function listRestorePoints(deps: ApiDeps): RequestHandler {
  let served: { list: readonly RestorePointSummary[]; body: string } | undefined;
  return async (_req, res) => {
    let list: readonly RestorePointSummary[];
    try {
      list = await deps.repository.listRestorePoints();
    } catch (err) {
      throw repositoryReadError(err);
    }
    if (served?.list !== list) served = { list, body: JSON.stringify({ restorePoints: list }) };
    sendJsonText(res, served.body);
  };
}

const restorePointParams = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/, { error: 'not a restore point id' }),
});

/** GET /v1/restore-points/{id}: one restore point (instance and volumes, no block lists), or 404. */
export function getRestorePoint(deps: ApiDeps): RequestHandler {
  return validated('params', restorePointParams, async ({ id }, _req, res) => {
    try {
      res.json(await deps.repository.getSummary(id));
    } catch (err) {
      if (err instanceof RestorePointNotFoundError)
        throw new HttpError('not_found', restorePointMissing(err.restorePointId));
      throw repositoryReadError(err);
    }
  });
}

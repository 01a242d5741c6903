import { restoreRequestSchema } from '@ec2-restore/contracts';
import type { RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';
import { validated } from '../http/validated.ts';

/** POST /v1/restores/plan: the dry run; 200 `{ok, mode, checks, steps, resources}`, creates nothing. */
export function planRestore(deps: ApiDeps): RequestHandler {
  return validated('body', restoreRequestSchema, async (request, _req, res) => {
    const planned = await deps.planner.plan(request);
    res.status(200).json(planned.plan);
  });
}

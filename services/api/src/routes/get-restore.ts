import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import { validated } from '../http/validated.ts';

export const restoreIdParams = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, { error: 'not a restore id (see GET /v1/restores)' }),
});

/** GET /v1/restores/{id}: the restore, or 404. */
export function getRestore(deps: ApiDeps): RequestHandler {
  return validated('params', restoreIdParams, async ({ id }, _req, res) => {
    const restore = await deps.store.get(id);
    if (restore === null) throw new HttpError('not_found', `Restore ${id} does not exist`);
    res.json(restore);
  });
}

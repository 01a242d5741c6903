import { restoreStatusSchema } from '@ec2-restore/contracts';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { validated } from '../http/validated.ts';

const listQuery = z.object({
  status: restoreStatusSchema.optional(),
  limit: z.coerce
    .number({ error: 'expected a number' })
    .int({ error: 'expected a whole number' })
    .min(1, { error: 'must be 1 to 500' })
    .max(500, { error: 'must be 1 to 500' })
    .default(50),
});

/** GET /v1/restores?status=&limit=: the newest restores first, `{restores: [...]}`. */
export function listRestores(deps: ApiDeps): RequestHandler {
  return validated('query', listQuery, async (query, _req, res) => {
    const restores = await deps.store.list({
      limit: query.limit,
      ...(query.status ? { status: query.status } : {}),
    });
    res.json({ restores });
  });
}

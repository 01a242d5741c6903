import { wholeNumberField } from '@ec2-restore/config';
import { restoreStatusSchema } from '@ec2-restore/contracts';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { sendJsonText } from '../http/send-json.ts';
import { validated } from '../http/validated.ts';

const listQuery = z.object({
  status: restoreStatusSchema.optional(),
  limit: wholeNumberField('a whole number of restores, e.g. 50', 1, 500).default(50),
});

/** GET /v1/restores?status=&limit=: the newest restores first, `{restores: [...]}`. */
export function listRestores(deps: ApiDeps): RequestHandler {
  return validated('query', listQuery, async (query, _req, res) => {
    const restores = await deps.store.list({
      limit: query.limit,
      ...(query.status ? { status: query.status } : {}),
    });
    sendJsonText(res, JSON.stringify({ restores }));
  });
}

import type { RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';

/** GET /healthz: the process answers (no dependencies checked, no auth). */
export const healthz: RequestHandler = (_req, res) => {
  res.json({ status: 'ok' });
};

/** GET /readyz: Redis answers PING within a second; else 503 `service_unavailable`. */
export function readyz(deps: ApiDeps): RequestHandler {
  return async (_req, res) => {
    try {
      await Promise.race([
        deps.redis.ping(),
        new Promise((_resolve, reject) =>
          setTimeout(() => reject(new Error('timed out after 1s')), 1000).unref(),
        ),
      ]);
    } catch (err) {
      throw new HttpError('service_unavailable', `Redis is not reachable: ${(err as Error).message}`);
    }
    res.json({ status: 'ready' });
  };
}

import type { RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';

/** GET /metrics: Prometheus text format. */
export function metrics(deps: ApiDeps): RequestHandler {
  return async (_req, res) => {
    res.set('Content-Type', deps.metrics.contentType).send(await deps.metrics.render());
  };
}

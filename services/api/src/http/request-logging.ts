import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ApiMetrics } from '../metrics.ts';

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * One JSON log line per request (method, route, status, duration, request id; the restore id when
 * the path names one) and the request counter. Headers are never logged, so no token is.
 */
export function requestLogging(logger: Logger, metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    // A client's id is kept only when it is short and plain (it goes into every log line and back
    // in a header); anything else gets a new one.
    const given = req.get('x-request-id');
    const requestId = given !== undefined && requestIdPattern.test(given) ? given : randomUUID();
    res.set('X-Request-Id', requestId);
    // 'close' comes once per response, also when the client left before it was finished (no
    // 'finish' then), so every request is logged exactly once.
    res.once('close', () => {
      const completed = res.writableFinished;
      // Express resets req.baseUrl when a router is left: use the one rememberMountPath saw.
      const mountPath = (res.locals.mountPath as string | undefined) ?? '';
      const route = req.route?.path ? `${mountPath}${req.route.path}` : 'unmatched';
      const restoreId = /^\/v1\/restores\/([A-Za-z0-9_-]+)/.exec(req.originalUrl)?.[1];
      metrics.httpRequests.inc({ method: req.method, route, status: res.statusCode });
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.path.slice(0, 512),
          route,
          status: res.statusCode,
          ...(completed ? {} : { clientLeft: true }),
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
          ...(restoreId && restoreId !== 'plan' ? { restoreId } : {}),
        },
        'request',
      );
    });
    next();
  };
}

/** Put first in a mounted router, so the request log names the full route (`/v1/restores/:id`). */
export const rememberMountPath: RequestHandler = (req, res, next) => {
  res.locals.mountPath = req.baseUrl;
  next();
};

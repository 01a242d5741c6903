import express, { type Express, type RequestHandler } from 'express';
import type { ApiDeps } from './deps.ts';
import { errorHandler, notFoundHandler } from './http/api-error.ts';
import { defaultApiLimits, EventStreamSlots, postRateLimit, TokenRateLimiter } from './http/api-limits.ts';
import { rememberMountPath, requestLogging } from './http/request-logging.ts';
import { requireRole, tokenAuth } from './http/token-auth.ts';
import { API_DOCS_PATH, apiDocsRouter } from './routes/api-docs.ts';
import { BULL_BOARD_PATH, bullBoardRouter } from './routes/bull-board.ts';
import { cancelRestore } from './routes/cancel-restore.ts';
import { createRestore } from './routes/create-restore.ts';
import { getRestore } from './routes/get-restore.ts';
import { healthz, readyz } from './routes/health.ts';
import { listRestores } from './routes/list-restores.ts';
import { metrics } from './routes/metrics.ts';
import { openApi } from './routes/openapi.ts';
import { planRestore } from './routes/plan-restore.ts';
import { restoreEvents } from './routes/restore-events.ts';
import { getRestorePoint, listRestorePoints } from './routes/restore-points.ts';

/**
 * The HTTP API. Routes only: each handler lives in its own file under
 * routes/, validation and auth are wrappers, everything with effects comes in through `deps`.
 */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestLogging(deps.logger, deps.metrics));

  app.get('/healthz', healthz);

  // Bull Board: the same tokens, also as a Basic password so a browser can log in. Read-only for
  // read and operator tokens; only admin tokens may act on jobs and queues.
  app.use(BULL_BOARD_PATH, tokenAuth(deps.apiTokens, { allowBasic: true }), bullBoardRouter(deps.queues));
  // The API reference page, likewise: a browser logs in with a token as the Basic password.
  app.use(
    API_DOCS_PATH,
    tokenAuth(deps.apiTokens, { allowBasic: true }),
    requireRole('read', 'The API reference'),
    apiDocsRouter(),
  );

  // Everything else needs a bearer token.
  app.use(tokenAuth(deps.apiTokens));
  const limits = { ...defaultApiLimits, ...deps.limits };
  const slots = new EventStreamSlots(limits);
  const postLimit = postRateLimit(
    new TokenRateLimiter(limits.postsPerMinutePerToken),
    limits.postsPerMinutePerToken,
  );
  const read = requireRole('read', 'This route');
  const operatorRole = requireRole('operator', 'Creating, planning or cancelling a restore');
  const operate: RequestHandler[] = [operatorRole, postLimit];
  app.get('/readyz', read, readyz(deps));
  app.get('/metrics', read, metrics(deps));
  app.get('/openapi.json', read, openApi());

  const api = express.Router();
  api.use(rememberMountPath);
  api.use(express.json({ limit: '1mb' }));
  api.post('/restores/plan', operate, planRestore(deps));
  api.post('/restores', operate, createRestore(deps));
  api.get('/restores', read, listRestores(deps));
  api.get('/restores/:id', read, getRestore(deps));
  api.post('/restores/:id/cancel', operate, cancelRestore(deps));
  api.get('/restores/:id/events', read, restoreEvents(deps, slots));
  api.get('/restore-points', read, listRestorePoints(deps));
  api.get('/restore-points/:id', read, getRestorePoint(deps));
  app.use('/v1', api);

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}

import express, { type Express } from 'express';
import type { ApiDeps } from './deps.ts';
import { errorHandler, notFoundHandler } from './http/api-error.ts';
import { rememberMountPath, requestLogging } from './http/request-logging.ts';
import { tokenAuth } from './http/token-auth.ts';
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
 * The HTTP API of docs/architecture.md#the-public-interface. Routes only: each handler lives in its own file under
 * routes/, validation and auth are wrappers, everything with effects comes in through `deps`.
 */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestLogging(deps.logger, deps.metrics));

  app.get('/healthz', healthz);

  // Bull Board: the same tokens, also as a Basic password so a browser can log in.
  app.use(BULL_BOARD_PATH, tokenAuth(deps.apiTokens, { allowBasic: true }), bullBoardRouter(deps.queues));

  // Everything else needs a bearer token.
  app.use(tokenAuth(deps.apiTokens));
  app.get('/readyz', readyz(deps));
  app.get('/metrics', metrics(deps));
  app.get('/openapi.json', openApi());

  const api = express.Router();
  api.use(rememberMountPath);
  api.use(express.json({ limit: '1mb' }));
  api.post('/restores/plan', planRestore(deps));
  api.post('/restores', createRestore(deps));
  api.get('/restores', listRestores(deps));
  api.get('/restores/:id', getRestore(deps));
  api.post('/restores/:id/cancel', cancelRestore(deps));
  api.get('/restores/:id/events', restoreEvents(deps));
  api.get('/restore-points', listRestorePoints(deps));
  api.get('/restore-points/:id', getRestorePoint(deps));
  app.use('/v1', api);

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}

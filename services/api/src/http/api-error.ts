import { type ApiError, apiError, type ErrorCode, errorCodes } from '@ec2-restore/contracts';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';

/** An error a route throws to answer with the error envelope of docs/architecture.md#the-public-interface. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: ApiError;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = errorCodes[code].httpStatus;
    this.body = apiError(code, message, details);
  }
}

export function sendError(res: Response, error: HttpError): void {
  res.status(error.status).json(error.body);
}

/** 404 in the envelope for any path no route answers. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, new HttpError('not_found', `No route ${req.method} ${req.path}; see /openapi.json`));
};

/**
 * The last handler: HttpErrors become their envelope; a body that is not JSON becomes
 * invalid_request; anything else is logged and answered as internal_error without its details.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpError) {
      sendError(res, err);
      return;
    }
    if (isBodyParseError(err)) {
      sendError(
        res,
        new HttpError('invalid_request', `The body is not valid JSON: ${err.message}`, {
          issues: [{ path: '', message: 'the body must be a JSON object' }],
        }),
      );
      return;
    }
    if (isPayloadTooLarge(err)) {
      sendError(
        res,
        new HttpError('invalid_request', 'The body is larger than 1 MiB', {
          issues: [{ path: '', message: 'the body is too large' }],
        }),
      );
      return;
    }
    if (isRedisUnavailable(err)) {
      logger.warn({ err: (err as Error).message, method: req.method, path: req.path }, 'redis unavailable');
      sendError(res, new HttpError('service_unavailable', 'Redis is not reachable; try again shortly'));
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, 'request failed');
    sendError(
      res,
      new HttpError('internal_error', 'An internal error occurred; the server log has the details'),
    );
  };
}

function isBodyParseError(err: unknown): err is Error {
  return err instanceof SyntaxError && (err as { type?: string }).type === 'entity.parse.failed';
}

function isPayloadTooLarge(err: unknown): boolean {
  return (err as { type?: string } | null)?.type === 'entity.too.large';
}

/** ioredis gave up on a command: the connection is down (retries exhausted, closed, refused). */
function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|Stream isn't writeable|enableOfflineQueue options is false/.test(
      err.message,
    )
  );
}

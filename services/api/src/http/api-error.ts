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
  const retryAfter = error.body.error.details.retryAfterSeconds;
  if (typeof retryAfter === 'number') res.set('Retry-After', String(retryAfter));
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
    const clientError = clientErrorOf(err);
    if (clientError) {
      sendError(res, clientError);
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

/**
 * What a client sent wrong that Express or its body parser refused before a route ran: a path that
 * is not valid percent-encoding, a charset other than UTF-8, a Content-Encoding it cannot decode or
 * a body that does not decode. All are 400 `invalid_request` naming what to fix, never 500.
 */
function clientErrorOf(err: unknown): HttpError | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const { status, statusCode, type } = err as { status?: unknown; statusCode?: unknown; type?: unknown };
  const code = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : 0;
  if (code < 400 || code > 499) return undefined;
  const invalid = (message: string, path: string, issue: string) =>
    new HttpError('invalid_request', message, { issues: [{ path, message: issue }] });
  if (err instanceof URIError) {
    return invalid(
      'The URL is not valid percent-encoding (each % must be followed by two hex digits forming UTF-8)',
      'path',
      'not valid percent-encoding',
    );
  }
  switch (type) {
    case 'charset.unsupported':
      return invalid(
        'The body must be UTF-8: send Content-Type: application/json (or application/json; charset=utf-8)',
        'headers.content-type',
        'only charset=utf-8 is accepted',
      );
    case 'encoding.unsupported':
      return invalid(
        'Content-Encoding must be identity, gzip, deflate or br; send the body uncompressed or with one of those',
        'headers.content-encoding',
        'unsupported content encoding',
      );
    case 'request.aborted':
      return invalid('The request body ended before Content-Length said it would', '', 'body incomplete');
    case 'request.size.invalid':
      return invalid('Content-Length does not match the body', 'headers.content-length', 'does not match');
    default:
      // zlib refused the body (a truncated or corrupt gzip, deflate or br stream).
      if (
        typeof (err as { errno?: unknown }).errno === 'number' ||
        /header check|unexpected end|invalid/i.test(String((err as Error).message))
      ) {
        return invalid(
          'The body could not be decoded with its Content-Encoding; send it uncompressed or compress it again',
          'headers.content-encoding',
          'the body does not decode',
        );
      }
      return invalid(
        `The request is malformed (${String((err as Error).message).slice(0, 200)})`,
        '',
        'malformed request',
      );
  }
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
    /Connection is closed|ECONNREFUSED|Stream isn't writeable|enableOfflineQueue options is false|Command timed out/.test(
      err.message,
    )
  );
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError, sendError } from './api-error.ts';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Requires `Authorization: Bearer <token>` with one of the configured tokens. Tokens are compared
 * as SHA-256 digests in constant time, so timing reveals neither a token nor its length.
 */
export function bearerAuth(tokens: readonly string[]): RequestHandler {
  const accepted = tokens.map(digest);
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    const given = match?.[1] === undefined ? undefined : digest(match[1]);
    let valid = false;
    for (const token of accepted) if (given !== undefined && timingSafeEqual(token, given)) valid = true;
    if (valid) {
      next();
      return;
    }
    res.set('WWW-Authenticate', 'Bearer realm="ec2-restore"');
    sendError(
      res,
      new HttpError(
        'unauthorized',
        match === null
          ? 'Missing bearer token: send "Authorization: Bearer <token>" with one of the tokens in API_TOKENS'
          : 'The bearer token is not one of the configured API tokens',
      ),
    );
  };
}

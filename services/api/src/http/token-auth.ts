import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { HttpError, sendError } from './api-error.ts';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export interface TokenAuthOptions {
  /**
   * Also accept HTTP Basic auth with a token as the password (any user name), and challenge with
   * Basic: a browser cannot send a bearer token, but it prompts for Basic credentials. Used for
   * Bull Board.
   * @defaultValue false
   */
  allowBasic?: boolean;
}

/** The token a request presents: the bearer token, or (when allowed) the Basic password. */
function presentedToken(req: Request, allowBasic: boolean): string | undefined {
  const header = req.get('authorization') ?? '';
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = allowBasic ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!basic?.[1]) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

/**
 * Requires one of the configured tokens (`Authorization: Bearer <token>`). Tokens are compared as
 * SHA-256 digests in constant time, so timing reveals neither a token nor its length.
 */
export function tokenAuth(tokens: readonly string[], options: TokenAuthOptions = {}): RequestHandler {
  const accepted = tokens.map(digest);
  const allowBasic = options.allowBasic ?? false;
  return (req, res, next) => {
    const token = presentedToken(req, allowBasic);
    const given = token === undefined ? undefined : digest(token);
    let valid = false;
    for (const candidate of accepted)
      if (given !== undefined && timingSafeEqual(candidate, given)) valid = true;
    if (valid) {
      next();
      return;
    }
    res.set(
      'WWW-Authenticate',
      allowBasic ? 'Basic realm="ec2-restore", Bearer realm="ec2-restore"' : 'Bearer realm="ec2-restore"',
    );
    sendError(
      res,
      new HttpError(
        'unauthorized',
        token === undefined
          ? `Missing bearer token: send "Authorization: Bearer <token>" with one of the tokens in API_TOKENS${allowBasic ? ' (a browser may log in with any user name and a token as the password)' : ''}`
          : 'The bearer token is not one of the configured API tokens',
      ),
    );
  };
}

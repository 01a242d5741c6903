import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { HttpError, sendError } from './api-error.ts';
import { type ApiRole, type ApiTokenInput, normalizeApiTokens, roleAllows } from './api-roles.ts';

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

/** Who made a request, as `tokenAuth` found it (in `res.locals.caller`). */
export interface Caller {
  role: ApiRole;
  /**
   * A short, stable name of the token (the start of its SHA-256), for per-token limits and logs; it
   * reveals nothing of the token.
   */
  tokenId: string;
}

export function callerOf(res: Response): Caller | undefined {
  return res.locals.caller as Caller | undefined;
}

/**
 * Requires one of the configured tokens (`Authorization: Bearer <token>`) and records its role in
 * `res.locals.caller`. Tokens are compared as SHA-256 digests in constant time, against every
 * configured token, so timing reveals neither a token, its length nor its role.
 */
export function tokenAuth(tokens: readonly ApiTokenInput[], options: TokenAuthOptions = {}): RequestHandler {
  const accepted = normalizeApiTokens(tokens).map(({ token, role }) => ({ digest: digest(token), role }));
  const allowBasic = options.allowBasic ?? false;
  return (req, res, next) => {
    const token = presentedToken(req, allowBasic);
    const given = token === undefined ? undefined : digest(token);
    let role: ApiRole | undefined;
    for (const candidate of accepted)
      if (given !== undefined && timingSafeEqual(candidate.digest, given)) role = candidate.role;
    if (role !== undefined && given !== undefined) {
      res.locals.caller = { role, tokenId: given.toString('hex').slice(0, 12) } satisfies Caller;
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

/** After `tokenAuth`: 403 `forbidden` unless the caller's role includes `needed`. */
export function requireRole(needed: ApiRole, what: string): RequestHandler {
  return (_req, res, next) => {
    const caller = callerOf(res);
    if (caller !== undefined && roleAllows(caller.role, needed)) {
      next();
      return;
    }
    sendError(
      res,
      new HttpError(
        'forbidden',
        `${what} needs a token with role ${needed} or higher; this token's role is ${caller?.role ?? 'none'} (roles are set in API_TOKENS as <role>:<token>)`,
        { role: caller?.role ?? null, required: needed },
      ),
    );
  };
}

/**
 * What an API token may do. Each role includes the ones before it:
 * - `read`: every GET route, the event streams, Bull Board read-only;
 * - `operator`: also create, plan and cancel restores;
 * - `admin`: also Bull Board's actions (pause, resume, clean, retry, promote, add, update, obliterate).
 */
export const apiRoles = ['read', 'operator', 'admin'] as const;
export type ApiRole = (typeof apiRoles)[number];

/** The role of an `API_TOKENS` entry written without one (`<token>` rather than `<role>:<token>`). */
export const DEFAULT_API_ROLE: ApiRole = 'operator';

export interface ApiToken {
  token: string;
  role: ApiRole;
}

/** True when `held` includes everything `needed` may do. */
export function roleAllows(held: ApiRole, needed: ApiRole): boolean {
  return apiRoles.indexOf(held) >= apiRoles.indexOf(needed);
}

/** A token as given to the app: a plain string is a token of {@link DEFAULT_API_ROLE}. */
export type ApiTokenInput = string | ApiToken;

export function normalizeApiTokens(tokens: readonly ApiTokenInput[]): ApiToken[] {
  return tokens.map((entry) =>
    typeof entry === 'string' ? { token: entry, role: DEFAULT_API_ROLE } : entry,
  );
}

/**
 * Parses `API_TOKENS`: comma-separated entries, each `<role>:<token>` or a bare `<token>` (role
 * {@link DEFAULT_API_ROLE}). Throws an Error whose message says which entry is wrong and how to fix
 * it; the message never repeats a token.
 */
export function parseApiTokens(value: string): ApiToken[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new Error('lists no token; give one or more, comma-separated');
  const parsed: ApiToken[] = [];
  const seen = new Map<string, ApiRole>();
  for (const [index, entry] of entries.entries()) {
    const where = `entry ${index + 1} of ${entries.length}`;
    const colon = entry.indexOf(':');
    let role: ApiRole = DEFAULT_API_ROLE;
    let token = entry;
    if (colon !== -1) {
      const prefix = entry.slice(0, colon);
      if (!(apiRoles as readonly string[]).includes(prefix)) {
        throw new Error(
          `${where} has a ":" but what comes before it is not a role; write <role>:<token> with a role of ${apiRoles.join(', ')}, or a token without ":" for ${DEFAULT_API_ROLE}`,
        );
      }
      role = prefix as ApiRole;
      token = entry.slice(colon + 1);
    }
    if (!/^[\x21-\x7e]+$/.test(token) || token.includes(',')) {
      throw new Error(
        `${where}: a token may only contain visible ASCII characters, no spaces (make one with \`openssl rand -hex 32\`)`,
      );
    }
    const earlier = seen.get(token);
    if (earlier !== undefined && earlier !== role) {
      throw new Error(`${where}: the same token is listed with two roles (${earlier} and ${role}); keep one`);
    }
    if (earlier === undefined) parsed.push({ token, role });
    seen.set(token, role);
  }
  return parsed;
}

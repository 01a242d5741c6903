import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * Reads docker-compose.yml as `docker compose config` would, as far as the tests need: YAML with merge
 * keys, then `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `$$`
 * interpolation in every string, then environment entries without a value taken from `env` (or
 * dropped when unset). https://docs.docker.com/reference/compose-file/interpolation/
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: string | number };
  profiles?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
  stdin_open?: boolean;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export class InterpolationError extends Error {}

function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, name, op, arg) => {
    if (whole === '$$') return '$';
    const value = env[name as string];
    const unsetOrEmpty = value === undefined || value === '';
    switch (op) {
      case ':-':
        return unsetOrEmpty ? (arg as string) : value!;
      case '-':
        return value === undefined ? (arg as string) : value;
      case ':?':
        if (unsetOrEmpty) throw new InterpolationError(`${name}: ${arg}`);
        return value!;
      case '?':
        if (value === undefined) throw new InterpolationError(`${name}: ${arg}`);
        return value;
      default:
        return value ?? '';
    }
  });
}

function walk(node: unknown, env: Record<string, string | undefined>, errors: string[]): unknown {
  if (typeof node === 'string') {
    try {
      return interpolate(node, env);
    } catch (error) {
      if (error instanceof InterpolationError) {
        errors.push(error.message);
        return '';
      }
      throw error;
    }
  }
  if (Array.isArray(node)) return node.map((item) => walk(item, env, errors));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value, env, errors)]));
  }
  return node;
}

export function loadComposeFile(env: Record<string, string | undefined>): ComposeFile {
  const text = readFileSync(new URL('docker-compose.yml', `file://${REPO_ROOT}`), 'utf8');
  const raw = parse(text, { merge: true }) as ComposeFile;
  const errors: string[] = [];
  const file = walk(raw, env, errors) as ComposeFile;
  if (errors.length > 0)
    throw new InterpolationError(`required variables missing:\n${[...new Set(errors)].join('\n')}`);
  for (const service of Object.values(file.services)) {
    if (!service.environment) continue;
    const resolved: Record<string, string> = {};
    for (const [key, value] of Object.entries(service.environment as Record<string, unknown>)) {
      if (value === null || value === undefined) {
        const fromShell = env[key];
        if (fromShell !== undefined) resolved[key] = fromShell;
      } else {
        resolved[key] = String(value);
      }
    }
    service.environment = resolved;
  }
  return file;
}

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './exit-codes.ts';

/* Where the CLI finds the API: flags, environment variables, or a running embedded default. */

export interface Connection {
  endpoint: string;
  token: string;
}

/** Where the connection settings come from, besides flags (injectable for tests). */
export interface Environment {
  env: NodeJS.ProcessEnv;
  cwd: string;
  readFile: (path: string) => string;
}

export const defaultEnvironment: Environment = {
  env: process.env,
  cwd: process.cwd(),
  readFile: (path) => readFileSync(path, 'utf8'),
};

/** The file the embedded default (`bash scripts/start.sh`) writes with its API URL and token. */
export function embeddedSettingsPath(environment: Environment): string {
  const dataDir = environment.env.EC2_RESTORE_DATA_DIR ?? join(environment.cwd, '.data');
  return resolve(environment.cwd, dataDir, 'embedded.json');
}

/**
 * --endpoint / --token, else EC2_RESTORE_ENDPOINT / EC2_RESTORE_TOKEN, else the settings of an embedded
 * default running from this folder (`.data/embedded.json`, written by `bash scripts/start.sh`).
 */
export function resolveConnection(
  endpointFlag: string | undefined,
  tokenFlag: string | undefined,
  environment: Environment,
): Connection {
  let endpoint = endpointFlag ?? environment.env.EC2_RESTORE_ENDPOINT;
  let token = tokenFlag ?? environment.env.EC2_RESTORE_TOKEN;
  if (endpoint === undefined || token === undefined) {
    try {
      const embedded = JSON.parse(environment.readFile(embeddedSettingsPath(environment))) as {
        apiUrl?: string;
        token?: string;
      };
      endpoint ??= embedded.apiUrl;
      token ??= embedded.token;
    } catch {
      // No embedded default here: the message below says what to set.
    }
  }
  if (endpoint === undefined || endpoint === '') {
    throw new UsageError('no API endpoint: pass --endpoint URL or set EC2_RESTORE_ENDPOINT');
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint}: not a URL (e.g. http://localhost:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--endpoint ${endpoint}: must be an http:// or https:// URL`);
  }
  if (token === undefined || token === '') {
    throw new UsageError('no API token: pass --token TOKEN or set EC2_RESTORE_TOKEN');
  }
  return { endpoint: endpoint.replace(/\/+$/, ''), token };
}

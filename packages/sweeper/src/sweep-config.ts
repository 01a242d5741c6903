import type { SweepTarget } from './sweep-leftovers.ts';

/** What the sweep CLI reads from the environment. */
export interface SweepEnvConfig {
  redisUrl: string;
  region: string;
  endpoint?: string;
  /** Prefix of the restore store's Redis keys (the services' STATE_PREFIX). */
  statePrefix: string;
  targets: SweepTarget[];
}

const ROLE_ARN = /^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/**
 * `SWEEP_TARGET_ROLES`: comma-separated role ARNs, each optionally `roleArn#externalId`; every one is
 * swept in `region`.
 */
export function parseTargetRoles(value: string | undefined, region: string): SweepTarget[] {
  if (value === undefined || value.trim() === '') return [];
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const hash = entry.indexOf('#');
      const roleArn = hash === -1 ? entry : entry.slice(0, hash);
      const externalId = hash === -1 ? undefined : entry.slice(hash + 1);
      if (!ROLE_ARN.test(roleArn)) {
        throw new Error(
          `SWEEP_TARGET_ROLES: "${roleArn}" is not a role ARN; expected arn:aws:iam::<12-digit account>:role/<name>, optionally followed by #<externalId>, comma-separated`,
        );
      }
      if (externalId === '')
        throw new Error(`SWEEP_TARGET_ROLES: "${entry}" has an empty external id after "#"`);
      return { roleArn, region, ...(externalId ? { externalId } : {}) };
    });
}

/** Reads and checks the sweep's environment; errors name the variable and the fix. */
export function readSweepEnv(env: NodeJS.ProcessEnv): SweepEnvConfig {
  const redisUrl = env['REDIS_URL'];
  if (!redisUrl)
    throw new Error(
      'REDIS_URL is not set: give the Redis the restore records live in, e.g. redis://localhost:6379',
    );
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new Error(`REDIS_URL "${redisUrl}" must start with redis:// or rediss://`);
  }
  const region = env['AWS_REGION'];
  if (!region) throw new Error('AWS_REGION is not set: give the region to sweep, e.g. eu-west-1');
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new Error(`AWS_REGION "${region}" is not a region name such as eu-west-1`);
  }
  const endpoint = env['AWS_ENDPOINT_URL'] || undefined;
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) {
    throw new Error(
      `AWS_ENDPOINT_URL "${endpoint}" must be an http:// or https:// URL (or unset for real AWS)`,
    );
  }
  return {
    redisUrl,
    region,
    ...(endpoint ? { endpoint } : {}),
    statePrefix: env['STATE_PREFIX'] || 'ec2-restore:',
    targets: parseTargetRoles(env['SWEEP_TARGET_ROLES'], region),
  };
}

import {
  awsEndpointUrlField,
  awsRegionField,
  parseEnv,
  requiredRedisUrlField,
  statePrefixField,
} from '@ec2-restore/config';
import { z } from 'zod';
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

/** A zod refinement: SWEEP_TARGET_ROLES must parse (for any schema with it and AWS_REGION). */
export function checkTargetRoles(
  value: { SWEEP_TARGET_ROLES?: string | undefined; AWS_REGION: string },
  ctx: z.RefinementCtx,
): void {
  try {
    parseTargetRoles(value.SWEEP_TARGET_ROLES, value.AWS_REGION);
  } catch (error) {
    ctx.addIssue({ code: 'custom', path: ['SWEEP_TARGET_ROLES'], message: (error as Error).message });
  }
}

const sweepEnvSchema = z
  .object({
    REDIS_URL: requiredRedisUrlField,
    AWS_REGION: awsRegionField,
    AWS_ENDPOINT_URL: awsEndpointUrlField,
    STATE_PREFIX: statePrefixField,
    SWEEP_TARGET_ROLES: z.string().optional(),
  })
  .superRefine(checkTargetRoles);

/** Reads and checks the sweep's environment; a `ConfigError` names each wrong variable and the fix. */
export function readSweepEnv(env: NodeJS.ProcessEnv): SweepEnvConfig {
  const value = parseEnv('sweep', sweepEnvSchema, env);
  return {
    redisUrl: value.REDIS_URL,
    region: value.AWS_REGION,
    ...(value.AWS_ENDPOINT_URL ? { endpoint: value.AWS_ENDPOINT_URL } : {}),
    statePrefix: value.STATE_PREFIX,
    targets: parseTargetRoles(value.SWEEP_TARGET_ROLES, value.AWS_REGION),
  };
}

import {
  backupRepositoryField,
  ConfigError,
  parseEnv,
  requiredRedisUrlField,
  serviceEnvSchema,
} from '@ec2-restore/config';
import { z } from 'zod';

export { ConfigError };

import { type ApiToken, parseApiTokens } from './http/api-roles.ts';

/** The API's variables: those of every service (`@ec2-restore/config`) and its own. */
const envSchema = serviceEnvSchema.extend({
  REDIS_URL: requiredRedisUrlField,
  BACKUP_REPOSITORY: backupRepositoryField,
  API_TOKENS: z
    .string({
      error:
        'is not set; set it to one or more tokens, comma-separated, each <role>:<token> (role read, operator or admin) or a bare token (operator)',
    })
    .transform((value, ctx) => {
      try {
        return parseApiTokens(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  PORT: z.coerce
    .number({ error: 'must be a port number' })
    .int({ error: 'must be a whole port number' })
    .min(0, { error: 'must be between 0 and 65535' })
    .max(65535, { error: 'must be between 0 and 65535' })
    .default(8080),
});

export type ApiConfig = {
  redisUrl: string;
  awsRegion: string;
  awsEndpointUrl: string | undefined;
  backupRepository: string;
  apiTokens: ApiToken[];
  port: number;
  queuePrefix: string;
  statePrefix: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
};

/** Reads and checks the API's environment; throws ConfigError naming every wrong variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  // An empty variable counts as unset (so AWS_ENDPOINT_URL= means real AWS).
  const value = parseEnv('api', envSchema, env);
  return {
    redisUrl: value.REDIS_URL,
    awsRegion: value.AWS_REGION,
    awsEndpointUrl: value.AWS_ENDPOINT_URL,
    backupRepository: value.BACKUP_REPOSITORY,
    apiTokens: value.API_TOKENS,
    port: value.PORT,
    queuePrefix: value.QUEUE_PREFIX,
    statePrefix: value.STATE_PREFIX,
    logLevel: value.LOG_LEVEL,
  };
}

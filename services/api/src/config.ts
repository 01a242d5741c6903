import {
  backupRepositoryField,
  ConfigError,
  parseEnv,
  requiredRedisUrlField,
  serviceEnvSchema,
  wholeNumberField,
} from '@ec2-restore/config';
import { z } from 'zod';
import { type ApiLimits, defaultApiLimits } from './http/api-limits.ts';
import { type ApiToken, parseApiTokens } from './http/api-roles.ts';

export { ConfigError };

function positiveInt(unit: string, defaultValue: number) {
  return wholeNumberField(`a whole number of ${unit}, e.g. ${defaultValue}`, 1).default(defaultValue);
}

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
  PORT: wholeNumberField('a port number, e.g. 8080', 0, 65535).default(8080),
  API_MAX_EVENT_STREAMS: positiveInt('event streams', defaultApiLimits.maxEventStreams),
  API_MAX_EVENT_STREAMS_PER_TOKEN: positiveInt('event streams', defaultApiLimits.maxEventStreamsPerToken),
  API_POST_RATE_PER_MINUTE: positiveInt('requests', defaultApiLimits.postsPerMinutePerToken),
  API_REDIS_TIMEOUT_MS: positiveInt('milliseconds', defaultApiLimits.redisTimeoutMs),
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
  limits: ApiLimits;
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
    limits: {
      maxEventStreams: value.API_MAX_EVENT_STREAMS,
      maxEventStreamsPerToken: value.API_MAX_EVENT_STREAMS_PER_TOKEN,
      postsPerMinutePerToken: value.API_POST_RATE_PER_MINUTE,
      redisTimeoutMs: value.API_REDIS_TIMEOUT_MS,
    },
  };
}

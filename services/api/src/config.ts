import { z } from 'zod';
import { type ApiLimits, defaultApiLimits } from './http/api-limits.ts';
import { type ApiToken, parseApiTokens } from './http/api-roles.ts';

/** Thrown when the environment is wrong; the message names each variable and why. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((problem) => `  ${problem.variable}: ${problem.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

const urlOf = (protocols: string[], example: string) =>
  z
    .string({ error: `is not set; set it to a URL such as ${example}` })
    .min(1, { error: `is empty; set it to a URL such as ${example}` })
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      {
        error: (issue) =>
          `"${String(issue.input)}" is not a ${protocols.join(' or ')} URL such as ${example}`,
      },
    );

function positiveInt(unit: string, defaultValue: number) {
  return z.coerce
    .number({ error: `must be a whole number of ${unit}, e.g. ${defaultValue}` })
    .int({ error: `must be a whole number of ${unit}, e.g. ${defaultValue}` })
    .min(1, { error: `must be at least 1 (default ${defaultValue})` })
    .default(defaultValue);
}

const envSchema = z.object({
  REDIS_URL: urlOf(['redis:', 'rediss:'], 'redis://localhost:6379'),
  AWS_REGION: z
    .string({ error: 'is not set; set it to the region of the workers, e.g. eu-west-1' })
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, {
      error: (issue) => `"${String(issue.input)}" is not a region name such as eu-west-1`,
    }),
  AWS_ENDPOINT_URL: urlOf(['http:', 'https:'], 'http://localhost:4566').optional(),
  BACKUP_REPOSITORY: z
    .string({ error: 'is not set; set it to a folder path or s3://bucket/prefix' })
    .min(1, { error: 'is empty; set it to a folder path or s3://bucket/prefix' }),
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
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, { error: 'may only contain letters, digits, _ and -' })
    .default('bull'),
  STATE_PREFIX: z.string().min(1).default('ec2-restore:'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  // An empty AWS_ENDPOINT_URL means "real AWS", like unset.
  const input = { ...env, AWS_ENDPOINT_URL: env.AWS_ENDPOINT_URL === '' ? undefined : env.AWS_ENDPOINT_URL };
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(environment)'),
        message: issue.message,
      })),
    );
  }
  const value = parsed.data;
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

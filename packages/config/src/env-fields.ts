/**
 * The variables several processes read, defined once: the same name means the same thing, with the
 * same rule and the same default, in the API, the three workers and the CLIs.
 */
import { z } from 'zod';
import { ConfigError } from './config-error.ts';

/** An AWS region name; the region of the SDK's signing and of the clients without a target region. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;

const REDIS_URL_RULE = 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379';

/** The Redis of the queues and restore records; a local one by default. */
export const redisUrlField = z
  .string()
  .default('redis://127.0.0.1:6379')
  .refine((value) => /^rediss?:\/\//.test(value), REDIS_URL_RULE);

/**
 * REDIS_URL where guessing is unsafe: the API records accepted restores there, and the sweep treats
 * restores it cannot find as finished, so both must use the Redis the restore records really live in.
 */
export const requiredRedisUrlField = z
  .string({ error: 'is not set: give the Redis the restore records live in, e.g. redis://localhost:6379' })
  .refine((value) => /^rediss?:\/\//.test(value), REDIS_URL_RULE);

export const awsRegionField = z
  .string({ error: 'is not set; set it to the AWS region the SDK signs for, e.g. eu-west-1' })
  .regex(REGION_PATTERN, 'must be a region name such as eu-west-1');

export const awsEndpointUrlField = z
  .url({
    protocol: /^https?$/,
    error:
      'must be an http:// or https:// URL such as http://127.0.0.1:5000 (the local emulator), or unset for AWS',
  })
  .optional();

export const queuePrefixField = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'may only contain letters, digits, "-" and "_" (it starts every BullMQ key)')
  .default('bull');

export const statePrefixField = z
  .string()
  .regex(
    /^[A-Za-z0-9_:-]+$/,
    'may only contain letters, digits, ":", "-" and "_" (it starts every restore record key)',
  )
  .default('ec2-restore:');

export const logLevelField = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

export const backupRepositoryField = z
  .string({ error: 'is not set; set it to the backup repository, a folder path or s3://bucket/prefix' })
  .min(1);

/** Variables every service reads. */
export const serviceEnvSchema = z.object({
  REDIS_URL: redisUrlField,
  AWS_REGION: awsRegionField,
  AWS_ENDPOINT_URL: awsEndpointUrlField,
  QUEUE_PREFIX: queuePrefixField,
  STATE_PREFIX: statePrefixField,
  LOG_LEVEL: logLevelField,
  /** How long one step may wait on AWS in all before the restore fails with `timeout` (workers). */
  STEP_PENDING_LIMIT_MINUTES: z.coerce
    .number({ error: 'must be a number of minutes, e.g. 360' })
    .positive('must be more than 0')
    .optional(),
});
export type ServiceEnv = z.infer<typeof serviceEnvSchema>;

/**
 * A whole number from `min` to `max`, coerced (variables and query strings are text). `expected` says
 * what it must be with an example (`a whole number of jobs, e.g. 4`): the message of a wrong value.
 */
export function wholeNumberField(expected: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.coerce
    .number({ error: `must be ${expected}` })
    .int({ error: `must be ${expected}` })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });
}

/** A concurrency variable: jobs one process runs at once. */
export function concurrencyField(defaultValue: number) {
  return wholeNumberField('a whole number of jobs, e.g. 4', 1, 1000).default(defaultValue);
}

/** A number of minutes, 0 or more. */
export function minutesField(defaultValue: number, example: string) {
  return z.coerce
    .number({ error: `must be a number of minutes, e.g. ${example}` })
    .min(0, 'must be 0 or more')
    .default(defaultValue);
}

/**
 * Parses the environment with a schema; throws a {@link ConfigError} naming every wrong variable, what
 * it must be and the value given. An empty string counts as unset (so `AWS_ENDPOINT_URL=` means AWS).
 */
export function parseEnv<S extends z.ZodType>(
  service: string,
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  ) as Record<string, string>;
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    service,
    parsed.error.issues.map((issue) => ({
      variable: issue.path.join('.') || '(environment)',
      message: issue.message,
    })),
    cleaned,
  );
}

import { z } from 'zod';

/** Variables every worker reads (docs/architecture.md#the-public-interface: the same names in every service). */
export const baseWorkerEnvSchema = z.object({
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine(
      (value) => /^rediss?:\/\//.test(value),
      'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379',
    ),
  AWS_REGION: z
    .string({
      error:
        'is required: the AWS region the SDK signs for, e.g. eu-west-1 (each job names its own target region)',
    })
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region name such as eu-west-1'),
  AWS_ENDPOINT_URL: z
    .url({ error: 'must be a URL such as http://127.0.0.1:5000 (the local emulator), or unset for AWS' })
    .optional(),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "-" and "_" only (it starts every BullMQ key)')
    .default('bull'),
  STATE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]+$/, 'letters, digits, ":", "-" and "_" only (it starts every restore record key)')
    .default('ec2-restore:'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type BaseWorkerEnv = z.infer<typeof baseWorkerEnvSchema>;

/** A concurrency variable: jobs one process runs at once. */
export function concurrencySchema(defaultValue: number) {
  return z.coerce
    .number({ error: 'must be a whole number of jobs, e.g. 4' })
    .int('must be a whole number of jobs, e.g. 4')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .default(defaultValue);
}

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment with a schema; a wrong value is an error naming the variable and what it
 * must be (empty strings count as unset).
 */
export function parseEnv<S extends z.ZodType>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv,
): z.infer<S> {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    service,
    parsed.error.issues.map((issue) => {
      const variable = issue.path.join('.') || '(environment)';
      const got = cleaned[variable];
      return `${variable} ${issue.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ''}`;
    }),
  );
}

/**
 * A worker's configuration: the variables every service reads (`@ec2-restore/config`), the worker's
 * own, and the EC2 call budget. One error type and one exit code for all of them.
 */
import { ec2CallLimitsFromEnv } from '@ec2-restore/aws-budget';
import { ConfigError, concurrencyField, parseEnv, serviceEnvSchema } from '@ec2-restore/config';
import { z } from 'zod';

export { ConfigError, exitOnConfigError, parseEnv } from '@ec2-restore/config';

/** Variables every worker reads (the same names and rules in every service). */
export const baseWorkerEnvSchema = serviceEnvSchema.extend({
  /**
   * How long a job's lock lasts without renewal, and how often the worker looks for jobs whose
   * worker died: such a job goes to another worker within about twice this.
   */
  JOB_LOCK_MS: z.coerce
    .number({ error: 'must be a number of milliseconds, e.g. 30000' })
    .int('must be a whole number of milliseconds, e.g. 30000')
    .min(1000, 'must be at least 1000 (the lock is renewed every half of it)')
    .default(30_000),
});
export type BaseWorkerEnv = z.infer<typeof baseWorkerEnvSchema>;

/** A concurrency variable: jobs one process runs at once. */
export const concurrencySchema = concurrencyField;

export interface WorkerConfig<Env extends BaseWorkerEnv> {
  env: Env;
  /** The EC2 call budget (`EC2_BUDGET_*`, shared in Redis by every worker). */
  ec2Limits: ReturnType<typeof ec2CallLimitsFromEnv>;
}

/** Reads a worker's environment; throws one `ConfigError` naming every wrong variable. */
export function loadWorkerConfig<S extends z.ZodType<BaseWorkerEnv>>(
  service: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
): WorkerConfig<z.infer<S>> {
  const parsed = parseEnv(service, schema, env);
  try {
    return { env: parsed, ec2Limits: ec2CallLimitsFromEnv(env) };
  } catch (error) {
    const message = (error as Error).message;
    throw new ConfigError(service, [{ variable: /^(\w+)=/.exec(message)?.[1] ?? 'EC2_BUDGET', message }]);
  }
}

/**
 * A worker's configuration: the variables every service reads (`@ec2-restore/config`), the worker's
 * own, and the EC2 call budget. One error type and one exit code for all of them.
 */
import { ec2CallLimitsFromEnv } from '@ec2-restore/aws-budget';
import {
  ConfigError,
  concurrencyField,
  exitOnConfigError,
  parseEnv,
  serviceEnvSchema,
} from '@ec2-restore/config';
import { z } from 'zod';

export { ConfigError, exitOnConfigError, parseEnv } from '@ec2-restore/config';

/** Variables every worker reads: those of every service, and how long a graceful stop may take. */
export const baseWorkerEnvSchema = serviceEnvSchema.extend({
  /**
   * Seconds a SIGTERM waits for running jobs; past it the worker exits 1 and its jobs go back to the
   * queue when their lock expires (steps are idempotent). Keep it below the platform's kill grace.
   */
  WORKER_STOP_TIMEOUT_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds, e.g. 25' })
    .positive('must be more than 0')
    .max(3600, 'must be at most 3600')
    .default(25),
  /**
   * Seconds a job's lock lasts without renewal (renewed at half of it): a job whose worker died goes
   * back to the queue within about twice this (the stalled-job check runs as often).
   */
  WORKER_LOCK_SECONDS: z.coerce
    .number({ error: 'must be a number of seconds, e.g. 30' })
    .min(2, 'must be at least 2')
    .max(600, 'must be at most 600')
    .default(30),
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

/** A service's entry: {@link loadWorkerConfig}, or the error printed and exit code 2. */
export function loadWorkerConfigOrExit<S extends z.ZodType<BaseWorkerEnv>>(
  service: string,
  schema: S,
): WorkerConfig<z.infer<S>> {
  try {
    return loadWorkerConfig(service, schema);
  } catch (error) {
    exitOnConfigError(error);
  }
}

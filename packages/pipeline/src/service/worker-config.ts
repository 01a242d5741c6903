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
import type { z } from 'zod';

export { ConfigError, exitOnConfigError, parseEnv } from '@ec2-restore/config';

/** Variables every worker reads (the same names and rules in every service). */
export const baseWorkerEnvSchema = serviceEnvSchema;
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

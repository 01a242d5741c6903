import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  exitOnConfigError,
  instanceProcessors,
  parseEnv,
  runWorkerService,
} from '@ec2-restore/pipeline';
import { parseTargetRoles, startPeriodicSweep } from '@ec2-restore/sweeper';
import { z } from 'zod';

const minutes = (defaultValue: number, example: string) =>
  z.coerce
    .number({ error: `must be a number of minutes, e.g. ${example}` })
    .min(0, 'must be 0 or more')
    .default(defaultValue);

const envSchema = baseWorkerEnvSchema
  .extend({
    INSTANCE_WORKER_CONCURRENCY: concurrencySchema(8),
    /** Minutes between sweeps of leftovers (packages/sweeper); 0 turns the periodic sweep off. */
    SWEEP_INTERVAL_MINUTES: minutes(15, '15'),
    /** A leftover younger than this is left alone: keep it above the longest restore. */
    SWEEP_MIN_AGE_MINUTES: minutes(120, '120'),
    /** Target roles to sweep besides those the stored restores name: `arn[#externalId],…`. */
    SWEEP_TARGET_ROLES: z.string().optional(),
  })
  .superRefine((value, ctx) => {
    try {
      parseTargetRoles(value.SWEEP_TARGET_ROLES, value.AWS_REGION);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['SWEEP_TARGET_ROLES'], message: (error as Error).message });
    }
  });

let env: z.infer<typeof envSchema>;
try {
  env = parseEnv('instance-worker', envSchema, process.env);
} catch (error) {
  exitOnConfigError(error);
}

runWorkerService({
  name: 'instance-worker',
  queue: QueueName.Instance,
  env,
  concurrency: env.INSTANCE_WORKER_CONCURRENCY,
  processors: instanceProcessors(),
  // Every instance-worker replica sweeps; that is safe (a resource already gone counts as removed),
  // only redundant. Cleanup after each restore stays the cleanup step's job: this is the safety net.
  background: ({ store, logger }) => {
    if (env.SWEEP_INTERVAL_MINUTES === 0) return async () => {};
    return startPeriodicSweep({
      store,
      source: { region: env.AWS_REGION, ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}) },
      targets: parseTargetRoles(env.SWEEP_TARGET_ROLES, env.AWS_REGION),
      minAgeMinutes: env.SWEEP_MIN_AGE_MINUTES,
      dryRun: false,
      intervalMs: env.SWEEP_INTERVAL_MINUTES * 60_000,
      logger,
    });
  },
});

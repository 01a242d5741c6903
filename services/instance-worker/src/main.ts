/** The instance worker: `node --import tsx services/instance-worker/src/main.ts` (variables in README.md). */
import { minutesField } from '@ec2-restore/config';
import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  instanceProcessors,
  serveQueue,
} from '@ec2-restore/pipeline';
import { checkTargetRoles, intervalClaim, parseTargetRoles, startPeriodicSweep } from '@ec2-restore/sweeper';
import { z } from 'zod';

const envSchema = baseWorkerEnvSchema
  .extend({
    INSTANCE_WORKER_CONCURRENCY: concurrencySchema(8),
    /** Minutes between sweeps of leftovers (packages/sweeper); 0 turns the periodic sweep off. */
    SWEEP_INTERVAL_MINUTES: minutesField(15, '15'),
    /** A leftover younger than this is left alone: keep it above the longest restore. */
    SWEEP_MIN_AGE_MINUTES: minutesField(120, '120'),
    /** Target roles to sweep besides those the stored restores name: `arn[#externalId],…`. */
    SWEEP_TARGET_ROLES: z.string().optional(),
  })
  .superRefine(checkTargetRoles);

serveQueue(QueueName.Instance, envSchema, (env) => ({
  concurrency: env.INSTANCE_WORKER_CONCURRENCY,
  processors: instanceProcessors(),
  // One sweep per interval across all instance-worker replicas (a Redis claim per interval). Cleanup
  // after each restore stays the cleanup step's job: this is the safety net.
  background: ({ store, redis, logger }) => {
    if (env.SWEEP_INTERVAL_MINUTES === 0) return async () => {};
    const intervalMs = env.SWEEP_INTERVAL_MINUTES * 60_000;
    return startPeriodicSweep({
      claim: intervalClaim(redis, `${env.STATE_PREFIX}periodic-sweep`, intervalMs),
      store,
      source: { region: env.AWS_REGION, ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}) },
      targets: parseTargetRoles(env.SWEEP_TARGET_ROLES, env.AWS_REGION),
      minAgeMinutes: env.SWEEP_MIN_AGE_MINUTES,
      dryRun: false,
      intervalMs,
      logger,
    });
  },
}));

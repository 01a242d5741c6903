import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  exitOnConfigError,
  parseEnv,
  runWorkerService,
} from '@ec2-restore/pipeline';
import type { z } from 'zod';
import { instanceProcessors } from './worker.ts';

const envSchema = baseWorkerEnvSchema.extend({ INSTANCE_WORKER_CONCURRENCY: concurrencySchema(8) });

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
});

import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  exitOnConfigError,
  parseEnv,
  runWorkerService,
  shareProcessors,
} from '@ec2-restore/pipeline';
import type { z } from 'zod';

const envSchema = baseWorkerEnvSchema.extend({ SHARE_WORKER_CONCURRENCY: concurrencySchema(8) });

let env: z.infer<typeof envSchema>;
try {
  env = parseEnv('share-worker', envSchema, process.env);
} catch (error) {
  exitOnConfigError(error);
}

runWorkerService({
  name: 'share-worker',
  queue: QueueName.Share,
  env,
  concurrency: env.SHARE_WORKER_CONCURRENCY,
  processors: shareProcessors(),
});

/** The share worker: `node --import tsx services/share-worker/src/main.ts` (variables in README.md). */
import { exitOnConfigError } from '@ec2-restore/config';
import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  loadWorkerConfig,
  runWorkerService,
  shareProcessors,
} from '@ec2-restore/pipeline';

const envSchema = baseWorkerEnvSchema.extend({ SHARE_WORKER_CONCURRENCY: concurrencySchema(8) });

let config: ReturnType<typeof loadWorkerConfig<typeof envSchema>>;
try {
  config = loadWorkerConfig('share-worker', envSchema);
} catch (error) {
  exitOnConfigError(error);
}

runWorkerService({
  name: 'share-worker',
  queue: QueueName.Share,
  config,
  concurrency: config.env.SHARE_WORKER_CONCURRENCY,
  processors: shareProcessors(),
});

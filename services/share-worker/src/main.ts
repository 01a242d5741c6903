/** The share worker: `node --import tsx services/share-worker/src/main.ts` (variables in README.md). */
import { QueueName } from '@ec2-restore/contracts';
import {
  baseWorkerEnvSchema,
  concurrencySchema,
  loadWorkerConfigOrExit,
  runWorkerService,
  shareProcessors,
} from '@ec2-restore/pipeline';

const envSchema = baseWorkerEnvSchema.extend({ SHARE_WORKER_CONCURRENCY: concurrencySchema(8) });

const config = loadWorkerConfigOrExit('share-worker', envSchema);

runWorkerService({
  name: 'share-worker',
  queue: QueueName.Share,
  config,
  concurrency: config.env.SHARE_WORKER_CONCURRENCY,
  processors: shareProcessors(),
});

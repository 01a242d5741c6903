/** The share worker: `node --import tsx services/share-worker/src/main.ts` (variables in README.md). */
import { QueueName } from '@ec2-restore/contracts';
import { baseWorkerEnvSchema, concurrencySchema, serveQueue, shareProcessors } from '@ec2-restore/pipeline';

const envSchema = baseWorkerEnvSchema.extend({ SHARE_WORKER_CONCURRENCY: concurrencySchema(8) });

serveQueue(QueueName.Share, envSchema, (env) => ({
  concurrency: env.SHARE_WORKER_CONCURRENCY,
  processors: shareProcessors(),
}));

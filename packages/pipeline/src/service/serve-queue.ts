import { type JobName, QueueName } from '@ec2-restore/contracts';
import type { z } from 'zod';
import type { StepProcessor } from '../queue/step-worker.ts';
import {
  type RunningWorkerService,
  runWorkerService,
  type WorkerServiceOptions,
} from './run-worker-service.ts';
import { type BaseWorkerEnv, loadWorkerConfigOrExit } from './worker-config.ts';

/** The worker service that serves each queue: its name in logs, config errors and deployments. */
export const workerServiceOf: Record<QueueName, string> = {
  [QueueName.Snapshot]: 'snapshot-worker',
  [QueueName.Share]: 'share-worker',
  [QueueName.Instance]: 'instance-worker',
};

/** What a worker service adds to the shared entry, from its parsed environment. */
export interface QueueService {
  concurrency: number;
  processors: Partial<Record<JobName, StepProcessor>>;
  background?: WorkerServiceOptions['background'];
}

/**
 * The one entry of the three worker services: reads the environment with the service's schema (a
 * wrong variable prints every problem and exits 2), then runs the step worker of `queue`.
 */
export function serveQueue<S extends z.ZodType<BaseWorkerEnv>>(
  queue: QueueName,
  envSchema: S,
  service: (env: z.infer<S>) => QueueService,
): RunningWorkerService {
  const name = workerServiceOf[queue];
  const config = loadWorkerConfigOrExit(name, envSchema);
  return runWorkerService({ name, queue, config, ...service(config.env) });
}

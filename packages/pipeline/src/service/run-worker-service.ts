import { callerAccountOf } from '@ec2-restore/aws-clients';
import type { JobName, QueueName } from '@ec2-restore/contracts';
import { createRedisConnection, inspectRedisDurability } from '@ec2-restore/redis-config';
import { RestoreStore, recordAwsCalls } from '@ec2-restore/restore-state';
import type { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { createStepClients } from '../aws/step-clients.ts';
import { type StepProcessor, startStepWorker } from '../queue/step-worker.ts';
import type { BaseWorkerEnv, WorkerConfig } from './worker-config.ts';

export interface WorkerServiceOptions {
  /** Service name for logs, e.g. `snapshot-worker`. */
  name: string;
  queue: QueueName;
  config: WorkerConfig<BaseWorkerEnv>;
  concurrency: number;
  processors: Partial<Record<JobName, StepProcessor>>;
  /**
   * Background work beside the queue (the instance worker's periodic sweep of leftovers); returns its
   * stop function, awaited on shutdown.
   */
  background?: (deps: { store: RestoreStore; redis: Redis; logger: Logger }) => () => Promise<void>;
}

export interface RunningWorkerService {
  /** Finishes running jobs (bounded by WORKER_STOP_TIMEOUT_SECONDS; rejects past it), then closes every connection. */
  stop(): Promise<void>;
}

/**
 * Runs a step worker as a service: Redis, restore store, AWS clients, the BullMQ worker, JSON logs,
 * and a graceful stop on SIGTERM/SIGINT: running jobs finish, for at most WORKER_STOP_TIMEOUT_SECONDS;
 * a stop that cannot finish (Redis gone, a job stuck) exits 1, and a second signal exits 1 at once.
 */
export function runWorkerService(options: WorkerServiceOptions): RunningWorkerService {
  const { env, ec2Limits: limits } = options.config;
  const logger = pino({ name: options.name, level: env.LOG_LEVEL });
  const redis = createRedisConnection(env.REDIS_URL, 'worker', { connectionName: options.name });
  // BullMQ needs a Redis that never evicts keys; without AOF a Redis restart loses accepted restores.
  void inspectRedisDurability(redis).then(
    ({ warnings }) => {
      for (const warning of warnings) logger.warn({ redis: env.REDIS_URL }, warning);
    },
    () => {},
  );
  const store = new RestoreStore(redis, { prefix: env.STATE_PREFIX });
  const clients = createStepClients({
    ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
    ec2Budget: { redis, limits },
    onClientsCreated: (made, scope) => {
      for (const client of [made.ec2, made.kms, made.ebs, made.sts]) recordAwsCalls(client, store, scope);
    },
  });
  // The first job would otherwise wait for the worker role's account, which the EC2 call budget keys
  // its buckets by (STS GetCallerIdentity, no IAM permission needed), and run the SDK's code for the
  // first time: asked now, for the worker's region. A failure only logs; the first job asks again.
  void callerAccountOf(clients.source(env.AWS_REGION))().catch((err: Error) =>
    logger.debug({ err: err.message }, 'looking up the worker role account at start failed'),
  );
  const running = startStepWorker({
    queue: options.queue,
    processors: options.processors,
    connection: redis,
    store,
    clients,
    concurrency: options.concurrency,
    prefix: env.QUEUE_PREFIX,
    lockDurationMs: env.WORKER_LOCK_SECONDS * 1000,
    logger,
    ...(env.STEP_PENDING_LIMIT_MINUTES !== undefined
      ? { pendingLimitMs: env.STEP_PENDING_LIMIT_MINUTES * 60_000 }
      : {}),
  });
  logger.info(
    { queue: options.queue, concurrency: options.concurrency, prefix: env.QUEUE_PREFIX },
    'worker started',
  );
  const stopBackground = options.background?.({ store, redis, logger });

  const stopTimeoutMs = env.WORKER_STOP_TIMEOUT_SECONDS * 1000;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('stopping: waiting for running jobs');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `running jobs did not finish within ${env.WORKER_STOP_TIMEOUT_SECONDS} s (WORKER_STOP_TIMEOUT_SECONDS); they go back to the queue when their lock expires`,
              ),
            ),
          stopTimeoutMs,
        );
      });
      try {
        // Bounded: with Redis gone, closing the BullMQ worker can wait for ever.
        await Promise.race([
          (async () => {
            await running.close();
            await stopBackground?.();
          })(),
          timedOut,
        ]);
      } finally {
        clearTimeout(timer);
        clients.destroy();
        // Not quit(): it waits for a Redis that may not come back.
        redis.disconnect();
      }
      logger.info('stopped');
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    logger.info({ signal }, 'signal received');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: (error as Error).message ?? String(error) }, 'stop failed: exiting with code 1');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { stop };
}

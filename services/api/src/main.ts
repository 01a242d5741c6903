/**
 * The API service: `node --import tsx services/api/src/main.ts`. Configuration from the environment
 * (see README.md); a wrong value stops the service with a message naming the variable.
 */
import { openBackupRepository, RepositoryLocationError } from '@ec2-restore/backup-repository';
import { exitOnConfigError } from '@ec2-restore/config';
import { QueueName, queueNames } from '@ec2-restore/contracts';
import { FlowRestoreLauncher, flowInQueues, startRelaunchingStranded } from '@ec2-restore/pipeline';
import { inspectRedisDurability } from '@ec2-restore/redis-config';
import { RestoreStore } from '@ec2-restore/restore-state';
import { FlowProducer, Queue } from 'bullmq';
import { createApp } from './app.ts';
import { type ApiConfig, ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { ApiMetrics } from './metrics.ts';
import { PreflightPlanner } from './preflight-planner.ts';
import { createApiRedis } from './redis-connection.ts';
import { warmRequestParsing } from './warm-up.ts';

/**
 * A restore still `queued` with every step pending this long after its POST has lost its flow; one
 * `cancelling` this long after its cancel with every step pending has no worker to end it.
 */
const STRANDED_AFTER_MS = 60_000;

function readConfig(): ApiConfig {
  try {
    return loadConfig();
  } catch (err) {
    exitOnConfigError(err);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);

  let repository: ReturnType<typeof openBackupRepository>;
  try {
    repository = openBackupRepository(config.backupRepository, {
      region: config.awsRegion,
      ...(config.awsEndpointUrl ? { endpoint: config.awsEndpointUrl } : {}),
    });
  } catch (err) {
    if (err instanceof RepositoryLocationError) {
      exitOnConfigError(new ConfigError('api', [{ variable: 'BACKUP_REPOSITORY', message: err.message }]));
    }
    throw err;
  }

  const redis = createApiRedis(config.redisUrl, { timeoutMs: config.limits.redisTimeoutMs, logger });
  // BullMQ needs a Redis that never evicts keys; without AOF a Redis restart loses accepted restores.
  void inspectRedisDurability(redis).then(
    ({ warnings }) => {
      for (const warning of warnings) logger.warn({ redis: config.redisUrl }, warning);
    },
    () => {},
  );
  // Bull Board reads the queues through these: the same deadline as every other data route.
  const connection = { url: config.redisUrl, commandTimeout: config.limits.redisTimeoutMs };
  const queues = queueNames.map((name) => new Queue(name, { connection, prefix: config.queuePrefix }));
  const flowProducer = new FlowProducer({ connection, prefix: config.queuePrefix });
  const store = new RestoreStore(redis, {
    prefix: config.statePrefix,
    events: { onRedisError: (err) => logger.warn({ err: err.message }, 'redis error (event streams)') },
  });

  const planner = new PreflightPlanner({
    repository,
    region: config.awsRegion,
    ...(config.awsEndpointUrl ? { endpoint: config.awsEndpointUrl } : {}),
    awsCallRecorder: store,
    // The workers' budget (same Redis, same keys): pre-flight's EC2 reads spend from it too.
    ec2Budget: { redis },
  });
  const launcher = new FlowRestoreLauncher(flowProducer);
  const app = createApp({
    store,
    redis,
    planner,
    launcher,
    repository,
    queues,
    apiTokens: config.apiTokens,
    logger,
    metrics: new ApiMetrics(store, queues),
    limits: config.limits,
  });

  const server = app.listen(config.port, () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    logger.info(
      { port, bullBoard: `http://localhost:${port}/admin/queues`, repository: repository.location },
      `ec2-restore api listening on http://localhost:${port}`,
    );
  });
  // The first restore's pre-flight would otherwise build the worker role's clients, load their SDK
  // packages and ask STS who the worker role is. Paid here instead; a failure is only logged (the
  // first plan then asks again and reports any real problem).
  planner.warm().catch((err: unknown) => {
    logger.debug({ err: (err as Error).message }, 'readying the pre-flight at start failed');
  });
  warmRequestParsing().catch((err: unknown) => {
    logger.debug({ err: (err as Error).message }, 'readying the request parsing at start failed');
  });
  // The catalogue's index (GET /v1/restore-points, and the restore point of a POST) is built at its
  // first use: reading every manifest, and zod compiling the manifest's parser (~10 ms in the first
  // POST's profile). Built here instead; a failure is logged and the first request tries again.
  repository.listRestorePoints().catch((err: unknown) => {
    logger.debug({ err: (err as Error).message }, 'reading the restore-point catalogue at start failed');
  });
  server.on('error', (err) => {
    logger.fatal({ err }, `cannot listen on port ${config.port} (PORT)`);
    process.exit(1);
  });

  const instanceQueue = new Queue(QueueName.Instance, { connection, prefix: config.queuePrefix });
  // A restore recorded by a process that died before adding its flow is started here, and one
  // cancelled before any step started is ended here when no worker takes its jobs (see the module).
  const stopRelaunching = startRelaunchingStranded(
    { store, planner, launcher },
    {
      ...flowInQueues(instanceQueue),
      olderThanMs: STRANDED_AFTER_MS,
      intervalMs: STRANDED_AFTER_MS / 2,
      onReport: ({ relaunched, refused, cancelled, deferred }) => {
        if (relaunched.length + refused.length + cancelled.length + deferred.length > 0)
          logger.warn(
            { relaunched, refused, cancelled, deferred },
            'restores no worker moves on: flow added again, or cancel ended',
          );
      },
      onError: (err) => logger.warn({ err: err.message }, 'looking for restores no worker moves on failed'),
    },
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    server.closeIdleConnections();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Event streams stay open until their restore ends: do not wait for them.
    setTimeout(() => server.closeAllConnections(), 5_000).unref();
    await closed;
    await stopRelaunching();
    await instanceQueue.close();
    await Promise.allSettled([
      ...queues.map((queue) => queue.close()),
      flowProducer.close(),
      store.closeSubscriptions(),
    ]);
    planner.close();
    redis.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();

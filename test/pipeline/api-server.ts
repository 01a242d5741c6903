import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ApiMetrics, createApp, createLogger, FlowRestoreLauncher, PreflightPlanner } from '@ec2-restore/api';
import { openBackupRepository } from '@ec2-restore/backup-repository';
import { queueNames } from '@ec2-restore/contracts';
import { credentialsForAccount } from '@ec2-restore/local-aws';
import { FlowProducer, Queue } from 'bullmq';
import { type Backup, type Pipeline, REGION } from './harness.ts';

export interface ApiServer {
  baseUrl: string;
  token: string;
  call(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The real API (createApp, real pre-flight planner with the worker role's credentials) on an
 * ephemeral port, sharing the pipeline's Redis prefixes, so the e2e goes through HTTP.
 */
export async function startApiServer(
  pipeline: Pipeline,
  backup: Backup,
  sourceAccountId: string,
): Promise<ApiServer> {
  const token = `e2e-token-${randomUUID()}`;
  const repository = openBackupRepository(join(backup.folder, 'repo'));
  const queues = queueNames.map(
    (name) => new Queue(name, { connection: pipeline.redis, prefix: pipeline.queuePrefix }),
  );
  const flowProducer = new FlowProducer({ connection: pipeline.redis, prefix: pipeline.queuePrefix });
  const app = createApp({
    store: pipeline.store,
    redis: pipeline.redis,
    planner: new PreflightPlanner({
      repository,
      region: REGION,
      credentials: credentialsForAccount(sourceAccountId),
      awsCallRecorder: pipeline.store,
    }),
    launcher: new FlowRestoreLauncher(flowProducer, { backoffMs: 500 }),
    repository,
    queues,
    // An admin token: the e2e tests may also act in Bull Board (as an operator of the queues would).
    apiTokens: [{ token, role: 'admin' }],
    logger: createLogger('silent'),
    metrics: new ApiMetrics(pipeline.store),
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    token,
    call(path, init = {}) {
      const { json, headers, ...rest } = init;
      return fetch(`${baseUrl}${path}`, {
        ...rest,
        headers: {
          authorization: `Bearer ${token}`,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
          ...(headers as Record<string, string> | undefined),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...queues.map((q) => q.close()), flowProducer.close()]);
    },
  };
}

import type { BackupRepository, RestorePointSummary } from '@ec2-restore/backup-repository';
import type { PlanResult, RestoreRequest } from '@ec2-restore/contracts';
import type { Restore, RestoreStore } from '@ec2-restore/restore-state';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ApiTokenInput } from './http/api-roles.ts';
import type { ApiMetrics } from './metrics.ts';

/** The pre-flight result and what the flow needs besides the request. */
export interface PlannedRestore {
  plan: PlanResult;
  /** The restore point, or null when the repository has none with the request's id. */
  restorePoint: RestorePointSummary | null;
  /** Account of the worker role, or null when it could not be determined (then a check failed). */
  sourceAccountId: string | null;
}

/** Runs the pre-flight checks of docs/architecture.md#pre-flight-checks with the credentials the steps will use. */
export interface RestorePlanner {
  plan(request: RestoreRequest): Promise<PlannedRestore>;
}

/** Starts the BullMQ flow of a stored restore (docs/architecture.md#services-and-queues). */
export interface RestoreLauncher {
  /** @returns the id of the flow's root job (the instance job). */
  start(restore: Restore<RestoreRequest>, planned: PlannedRestore): Promise<string>;
}

/** Everything the HTTP app needs; `main.ts` builds the real ones, tests their own. */
export interface ApiDeps {
  store: RestoreStore;
  /** For /readyz. */
  redis: Redis;
  planner: RestorePlanner;
  launcher: RestoreLauncher;
  repository: Pick<BackupRepository, 'listRestorePoints' | 'getSummary'>;
  /** The pipeline queues shown in Bull Board. */
  queues: Queue[];
  /** Bearer tokens with their roles; a plain string is a token of the default role (operator). */
  apiTokens: readonly ApiTokenInput[];
  logger: Logger;
  metrics: ApiMetrics;
}

import type { BackupRepository } from '@ec2-restore/backup-repository';
import type { PlannedRestore, RestoreLauncher, RestorePlanner } from '@ec2-restore/pipeline';
import type { RestoreStore } from '@ec2-restore/restore-state';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ApiLimits } from './http/api-limits.ts';
import type { ApiTokenInput } from './http/api-roles.ts';
import type { ApiMetrics } from './metrics.ts';

export type { PlannedRestore, RestoreLauncher, RestorePlanner };

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
  /** Stream caps, POST rate, Redis deadline. @defaultValue defaultApiLimits */
  limits?: Partial<ApiLimits>;
}

export { FlowRestoreLauncher } from '@ec2-restore/pipeline';
export { createApp } from './app.ts';
export { type ApiConfig, ConfigError, loadConfig } from './config.ts';
export type { ApiDeps, PlannedRestore, RestoreLauncher, RestorePlanner } from './deps.ts';
export { HttpError } from './http/api-error.ts';
export { createLogger } from './logger.ts';
export { ApiMetrics } from './metrics.ts';
export { buildOpenApiDocument } from './openapi.ts';
export { PreflightPlanner, type PreflightPlannerOptions } from './preflight-planner.ts';

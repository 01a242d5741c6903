export * from './request.ts';
export * from './restore.ts';
export * from './plan.ts';
export * from './checks.ts';
export * from './errors.ts';
export * from './jobs.ts';
export * from './queues.ts';

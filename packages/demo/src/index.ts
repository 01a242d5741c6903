export * from './demo-restore-point.ts';
export * from './demo-scenario.ts';

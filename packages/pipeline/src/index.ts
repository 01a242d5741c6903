export * from './restore-flow.ts';

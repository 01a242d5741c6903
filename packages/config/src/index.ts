export * from './config-error.ts';
export * from './env-fields.ts';

export * from './kms-grants.ts';
export * from './not-found.ts';
export * from './remove-image.ts';
export * from './remove-snapshot.ts';
export * from './remove-volumes.ts';
export * from './step-snapshots.ts';
export * from './tagged-resources.ts';

export * from './abort-scope.ts';
export * from './block-mismatches.ts';
export * from './device-path.ts';
export * from './ebs-direct-writer.ts';
export * from './retry-policy.ts';
export * from './snapshot-writer.ts';
export * from './verify-snapshot.ts';
export * from './worker-volume-writer.ts';

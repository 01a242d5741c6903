export * from './ec2-call-budget.ts';
export * from './ec2-call-limits.ts';
export * from './token-bucket.ts';

/**
 * The test world: everything an integration test sets up, in one place. Accounts, keys and roles
 * (accounts.ts, keys.ts), backups and block files (backup.ts), the pipeline and worker processes
 * (pipeline.ts), the API harness (api.ts), end-to-end restore worlds (world.ts), assertions on AWS
 * answers (expect-aws.ts), EC2 call budgets (ec2-budget.ts). Faults and chaos (fault-proxy.ts, chaos.ts) and an emulator of a file's
 * own (own-emulator.ts) are imported from their modules.
 */
export * from './accounts.ts';
export * from './api.ts';
export * from './backup.ts';
export * from './ebs-direct.ts';
export * from './ec2-budget.ts';
export * from './expect-aws.ts';
export * from './keys.ts';
export * from './pipeline.ts';
export * from './world.ts';

/*
 * The status lists, without zod: the CLI bundles this file alone (`@ec2-restore/contracts/statuses`)
 * and stays dependency-free; restore.ts builds its schemas from the same lists.
 */

/** A restore's status (docs/architecture.md#the-restore-lifecycle). */
export const restoreStatuses = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
] as const;
export type RestoreStatus = (typeof restoreStatuses)[number];

/** Statuses after which nothing changes any more. */
export const terminalRestoreStatuses: readonly RestoreStatus[] = ['succeeded', 'failed', 'cancelled'];

/** A step's status. */
export const stepStatuses = ['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof stepStatuses)[number];

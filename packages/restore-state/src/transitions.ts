import { type RestoreStatus, terminalRestoreStatuses } from './types.ts';

/**
 * Which statuses a restore may move to from each status. A terminal status never changes;
 * `cancelling` ends as `cancelled`, or `failed` when the cleanup itself fails.
 */
const allowedNext: Record<RestoreStatus, readonly RestoreStatus[]> = {
  queued: ['running', 'cancelling', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'cancelling'],
  cancelling: ['cancelled', 'failed'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** True when a restore in status `from` may move to `to` (staying in the same status is no move). */
export function canTransition(from: RestoreStatus, to: RestoreStatus): boolean {
  return allowedNext[from].includes(to);
}

/** The statuses from which `to` can be reached; passed to the Lua script that checks it atomically. */
export function statusesLeadingTo(to: RestoreStatus): RestoreStatus[] {
  return (Object.keys(allowedNext) as RestoreStatus[]).filter((from) => canTransition(from, to));
}

export function isTerminal(status: RestoreStatus): boolean {
  return terminalRestoreStatuses.includes(status);
}

import type { RestoreStatus } from './types.ts';

/** No restore with this id exists in the store. */
export class RestoreNotFoundError extends Error {
  constructor(readonly restoreId: string) {
    super(`Restore ${restoreId} does not exist`);
    this.name = 'RestoreNotFoundError';
  }
}

/** A status change the restore lifecycle does not allow, e.g. leaving a terminal status. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly restoreId: string,
    readonly from: RestoreStatus,
    readonly to: RestoreStatus,
  ) {
    super(`Restore ${restoreId} cannot go from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** {@link RestoreStore.create} was given an id that already exists. */
export class RestoreExistsError extends Error {
  constructor(readonly restoreId: string) {
    super(`Restore ${restoreId} already exists`);
    this.name = 'RestoreExistsError';
  }
}

import { IllegalTransitionError, isTerminal } from '@ec2-restore/restore-state';
import type { RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import { validated } from '../http/validated.ts';
import { restoreIdParams } from './get-restore.ts';

/**
 * POST /v1/restores/{id}/cancel: marks the restore `cancelling` (202 with the restore). The workers
 * see it before each step, stop, clean up and set `cancelled`. A restore that has ended: 409.
 */
export function cancelRestore(deps: ApiDeps): RequestHandler {
  return validated('params', restoreIdParams, async ({ id }, _req, res) => {
    const status = await deps.store.getStatus(id);
    if (status === null) throw new HttpError('not_found', `Restore ${id} does not exist`);
    if (isTerminal(status)) throw notCancellable(id, status);
    try {
      await deps.store.setStatus(id, 'cancelling');
    } catch (err) {
      // It ended between the read and the write.
      if (err instanceof IllegalTransitionError) throw notCancellable(id, err.from);
      throw err;
    }
    deps.logger.info({ restoreId: id }, 'restore cancel requested');
    res.status(202).json(await deps.store.get(id));
  });
}

function notCancellable(id: string, status: string): HttpError {
  return new HttpError('restore_not_cancellable', `Restore ${id} has already ended (${status})`, { status });
}

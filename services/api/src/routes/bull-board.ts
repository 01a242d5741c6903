import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { jobDataJsonSchema, type QueueName } from '@ec2-restore/contracts';
import type { Queue } from 'bullmq';
import type { RequestHandler, Router } from 'express';
import { HttpError, sendError } from '../http/api-error.ts';
import { roleAllows } from '../http/api-roles.ts';
import { callerOf } from '../http/token-auth.ts';

/** Where Bull Board is mounted. */
export const BULL_BOARD_PATH = '/admin/queues';

function board(queues: readonly Queue[], readOnlyMode: boolean): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queues.map(
      (queue) =>
        new BullMQAdapter(queue, {
          jobDataSchema: jobDataJsonSchema(queue.name as QueueName),
          description: `ec2-restore ${queue.name} jobs`,
          readOnlyMode,
        }),
    ),
    serverAdapter,
    options: {
      uiConfig: { boardTitle: readOnlyMode ? 'ec2-restore queues (read-only)' : 'ec2-restore queues' },
    },
  });
  return serverAdapter.getRouter() as Router;
}

/**
 * Bull Board for the pipeline queues, each with the JSON Schema of its jobs' data (generated from
 * the contracts) so the dashboard shows the shape of each step's input.
 *
 * Editing a queued job is editing what a worker will do (which account a snapshot is shared with),
 * so only `admin` tokens get the board with its actions; `read` and `operator` tokens get a
 * read-only board (no buttons), and any request but GET/HEAD from them is 403 before Bull Board
 * sees it. Run after `tokenAuth`.
 */
export function bullBoardRouter(queues: readonly Queue[]): RequestHandler {
  const readOnly = board(queues, true);
  const full = board(queues, false);
  return (req, res, next) => {
    const caller = callerOf(res);
    if (caller !== undefined && roleAllows(caller.role, 'admin')) {
      full(req, res, next);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(
        res,
        new HttpError(
          'forbidden',
          `Bull Board is read-only for a ${caller?.role ?? 'unknown'} token; its actions need a token with role admin (API_TOKENS entry admin:<token>)`,
          { role: caller?.role ?? null, required: 'admin' },
        ),
      );
      return;
    }
    readOnly(req, res, next);
  };
}

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { jobDataJsonSchema, type QueueName } from '@ec2-restore/contracts';
import type { Queue } from 'bullmq';
import type { Router } from 'express';

/** Where Bull Board is mounted. */
export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Bull Board for the pipeline queues, each with the JSON Schema of its jobs' data (generated from
 * the contracts) so the dashboard shows, and checks, the shape of each step's input.
 */
export function bullBoardRouter(queues: readonly Queue[]): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queues.map(
      (queue) =>
        new BullMQAdapter(queue, {
          jobDataSchema: jobDataJsonSchema(queue.name as QueueName),
          description: `ec2-restore ${queue.name} jobs`,
        }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'ec2-restore queues' } },
  });
  return serverAdapter.getRouter() as Router;
}

import type { RestoreEvent } from '@ec2-restore/restore-state';
import type { RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import { validated } from '../http/validated.ts';
import { restoreIdParams } from './get-restore.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/**
 * GET /v1/restores/{id}/events: server-sent events (`step`, `status`, `progress`, `end`), each with
 * its id; the history first, then live. A client reconnecting with `Last-Event-ID` resumes after
 * that event. The stream closes after `end`.
 */
export function restoreEvents(deps: ApiDeps): RequestHandler {
  return validated('params', restoreIdParams, async ({ id }, req, res) => {
    if ((await deps.store.getStatus(id)) === null)
      throw new HttpError('not_found', `Restore ${id} does not exist`);
    const lastEventId = req.get('last-event-id');
    const after = lastEventId !== undefined && /^\d+-\d+$/.test(lastEventId) ? lastEventId : '0';

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 3000\n\n');

    let closed = false;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = async () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      await unsubscribe();
      res.end();
    };
    const unsubscribe = deps.store.subscribe(
      id,
      (event: RestoreEvent) => {
        if (closed) return;
        res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
        if (event.type === 'end') void close();
      },
      { after },
    );
    // The client went away (or the response ended): stop reading Redis for it.
    res.on('close', () => void close());
  });
}

import type { RestoreEvent } from '@ec2-restore/restore-state';
import type { RequestHandler } from 'express';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../http/api-error.ts';
import type { EventStreamSlots } from '../http/api-limits.ts';
import { callerOf } from '../http/token-auth.ts';
import { validated } from '../http/validated.ts';
import { restoreIdParams } from './get-restore.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** What EventSource waits before it reconnects (the `retry:` field). */
const RECONNECT_MS = 3_000;

/**
 * GET /v1/restores/{id}/events: server-sent events (`step`, `status`, `progress`, `end`), each with
 * its id; the history first, then live. A client reconnecting with `Last-Event-ID` resumes after
 * that event. The stream closes after `end`.
 *
 * Every stream of the process reads Redis through the store's one shared subscriber connection.
 * Streams are capped per token and per process (429 `rate_limited` with Retry-After past either).
 * A Redis outage shorter than the store's grace is invisible (the stream resumes after the last
 * event sent); a longer one ends the stream with an `error` event
 * (`{code: "service_unavailable", message, retryable: true}`): reconnect with `Last-Event-ID`.
 */
export function restoreEvents(deps: ApiDeps, slots: EventStreamSlots): RequestHandler {
  return validated('params', restoreIdParams, async ({ id }, req, res) => {
    const release = slots.acquire(callerOf(res)?.tokenId ?? 'anonymous');
    let unsubscribe: (() => Promise<void>) | undefined;
    try {
      if ((await deps.store.getStatus(id)) === null)
        throw new HttpError('not_found', `Restore ${id} does not exist`);
    } catch (error) {
      release();
      throw error;
    }
    const lastEventId = req.get('last-event-id');
    const after = lastEventId !== undefined && /^\d{1,20}-\d{1,20}$/.test(lastEventId) ? lastEventId : '0';

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(`retry: ${RECONNECT_MS}\n\n`);

    let closed = false;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      release();
      void unsubscribe?.();
      res.end();
    };
    const send = (event: string, data: unknown, eventId?: string) => {
      res.write(`${eventId ? `id: ${eventId}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    unsubscribe = deps.store.subscribe(
      id,
      (event: RestoreEvent) => {
        if (closed) return;
        send(event.type, event.data, event.id);
        if (event.type === 'end') close();
      },
      {
        after,
        onError: (error) => {
          if (closed) return;
          deps.logger.warn({ restoreId: id, err: error.message }, 'event stream ended: redis unavailable');
          send('error', {
            code: 'service_unavailable',
            message: `${error.message}; reconnect with Last-Event-ID to resume after the last event received`,
            retryable: true,
          });
          close();
        },
      },
    );
    // The client went away (or the response ended): stop reading Redis for it.
    res.on('close', close);
  });
}

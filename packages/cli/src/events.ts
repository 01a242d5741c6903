import type { RestoreEvent } from '@ec2-restore/contracts';

export type { RestoreEvent };

import { type ApiClient, ApiRequestError } from './client.ts';
import { CliError, ExitCode } from './exit-codes.ts';

const eventTypes = new Set(['status', 'step', 'progress', 'end']);

/**
 * Splits a server-sent event stream into events (the parts of the format the API uses: `id:`,
 * `event:`, one `data:` line, comments). Feed it text as it arrives; it keeps the unfinished frame.
 */
export class EventStreamParser {
  private buffer = '';
  /** A chunk's last `\r`, held until the next chunk says whether `\n` follows it. */
  private carry = '';

  push(text: string): RestoreEvent[] {
    let input = this.carry + text;
    this.carry = '';
    if (input.endsWith('\r')) {
      this.carry = '\r';
      input = input.slice(0, -1);
    }
    this.buffer += input.replace(/\r\n?/g, '\n');
    const events: RestoreEvent[] = [];
    let boundary = this.buffer.indexOf('\n\n');
    while (boundary >= 0) {
      const frame = this.buffer.slice(0, boundary);
      this.buffer = this.buffer.slice(boundary + 2);
      boundary = this.buffer.indexOf('\n\n');
      const event = parseFrame(frame);
      if (event) events.push(event);
    }
    return events;
  }
}

function parseFrame(frame: string): RestoreEvent | undefined {
  let id: string | undefined;
  let type: string | undefined;
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (id === undefined || type === undefined || !eventTypes.has(type) || data.length === 0) return undefined;
  return { id, type, data: JSON.parse(data.join('\n')) } as RestoreEvent;
}

export interface FollowOptions {
  /** Ends the stream early (Ctrl-C). */
  signal: AbortSignal;
  /**
   * No bytes at all (the API sends a keep-alive comment every 15 s) for this long: the connection is
   * taken as dead and opened again. @defaultValue 45000
   */
  stallMs?: number;
  /** Reconnections in a row without an event before giving up. @defaultValue 5 */
  maxReconnects?: number;
  /** Told when the connection dropped and is being opened again. */
  onReconnect?: (attempt: number, reason: string) => void;
}

/**
 * Follows the event stream of a restore until its `end` event, calling `onEvent` for each event.
 * A dropped connection is opened again with Last-Event-ID, so no event is lost or seen twice.
 */
export async function followRestoreEvents(
  client: ApiClient,
  restoreId: string,
  onEvent: (event: RestoreEvent) => void,
  options: FollowOptions,
): Promise<Extract<RestoreEvent, { type: 'end' }>['data']> {
  const stallMs = options.stallMs ?? 45_000;
  const maxReconnects = options.maxReconnects ?? 5;
  let lastEventId: string | undefined;
  let failures = 0;
  for (;;) {
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    options.signal.addEventListener('abort', abort, { once: true });
    let stalled = false;
    let stallTimer = setTimeout(() => {}, 0);
    const armStallTimer = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        stalled = true;
        attempt.abort();
      }, stallMs);
    };
    let reason = 'the stream closed before the restore ended';
    try {
      armStallTimer();
      const response = await client.openEvents(restoreId, lastEventId, attempt.signal);
      const parser = new EventStreamParser();
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        armStallTimer();
        for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
          lastEventId = event.id;
          failures = 0;
          onEvent(event);
          if (event.type === 'end') return event.data;
        }
      }
    } catch (error) {
      if (options.signal.aborted) throw new CliError('interrupted', ExitCode.Interrupted);
      // The API's own answers (404, 401) are final; a network error or a stall is worth a retry.
      if (error instanceof ApiRequestError) throw error;
      reason = stalled ? `no data for ${stallMs / 1000} s` : (error as Error).message;
    } finally {
      clearTimeout(stallTimer);
      options.signal.removeEventListener('abort', abort);
    }
    if (options.signal.aborted) throw new CliError('interrupted', ExitCode.Interrupted);
    failures += 1;
    if (failures > maxReconnects) {
      throw new CliError(
        `lost the event stream of restore ${restoreId} ${maxReconnects} times in a row (${reason}); the restore goes on: ec2-restore watch ${restoreId}`,
        ExitCode.Failed,
      );
    }
    options.onReconnect?.(failures, reason);
    await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** (failures - 1), 8_000)));
  }
}

/**
 * Follows one restore's server-sent events as a client would: reads until `end`; when the stream is
 * cut (the API was killed) or ends with an `error` event (Redis was gone too long), reconnects with
 * `Last-Event-ID`. Each connection is recorded with how it ended.
 */

export type StreamEnd = 'end' | 'error-event' | 'cut' | 'refused' | 'closed-without-end' | 'abandoned';

export interface FollowedStream {
  restoreId: string;
  /** How each connection ended, in order. */
  connections: StreamEnd[];
  /** The end event was delivered (on some connection). */
  delivered: boolean;
}

export interface EventFollower {
  result: FollowedStream;
  /** Resolves when the end was delivered or the follower was abandoned. */
  done: Promise<void>;
  /** Gives up (the run's bound passed): an open connection is recorded `abandoned`. */
  abandon(): void;
}

export function followEvents(baseUrl: string, token: string, restoreId: string): EventFollower {
  const result: FollowedStream = { restoreId, connections: [], delivered: false };
  const abort = new AbortController();
  let lastEventId: string | undefined;

  const connectOnce = async (): Promise<StreamEnd> => {
    let response: Response;
    try {
      response = await fetch(`${baseUrl}/v1/restores/${restoreId}/events`, {
        headers: {
          authorization: `Bearer ${token}`,
          ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
        },
        signal: abort.signal,
      });
    } catch {
      return abort.signal.aborted ? 'abandoned' : 'refused';
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {});
      return 'refused';
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const message = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const id = /^id: (.+)$/m.exec(message)?.[1];
          if (id) lastEventId = id;
          const event = /^event: (.+)$/m.exec(message)?.[1];
          if (event === 'end') return 'end';
          if (event === 'error') return 'error-event';
        }
      }
      return 'closed-without-end';
    } catch {
      return abort.signal.aborted ? 'abandoned' : 'cut';
    }
  };

  const done = (async () => {
    while (!abort.signal.aborted) {
      const end = await connectOnce();
      result.connections.push(end);
      if (end === 'end') {
        result.delivered = true;
        return;
      }
      if (end === 'abandoned') return;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  return {
    result,
    done,
    abandon: () => abort.abort(),
  };
}

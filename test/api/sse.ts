export interface ServerSentEvent {
  id: string | undefined;
  event: string;
  data: unknown;
}

/**
 * Reads a server-sent event stream until the server closes it (or `timeoutMs` passes) and returns
 * the events, parsed per the EventSource format: blank-line separated blocks of `field: value`.
 */
export async function readEventStream(res: Response, timeoutMs = 15_000): Promise<ServerSentEvent[]> {
  if (!res.body) throw new Error('no body');
  const events: ServerSentEvent[] = [];
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  const timer = setTimeout(() => void reader.cancel(new Error('timed out')), timeoutMs);
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split('\n')) {
          if (line.startsWith(':') || line === '') continue;
          const colon = line.indexOf(':');
          fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
        }
        if (fields.has('data')) {
          events.push({
            id: fields.get('id'),
            event: fields.get('event') ?? 'message',
            data: JSON.parse(fields.get('data') ?? 'null'),
          });
        }
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}

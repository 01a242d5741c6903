import { describe, expect, it } from 'vitest';
import { EventStreamParser } from './events.ts';

describe('EventStreamParser', () => {
  it('yields each event once it is complete, across chunk boundaries, skipping comments', () => {
    const parser = new EventStreamParser();
    const stream =
      'retry: 3000\n\n: keep-alive\n\n' +
      'id: 1700000000000-0\nevent: step\ndata: {"name":"share","status":"running","attempts":1}\n\n' +
      'id: 1700000000001-0\r\nevent: end\r\ndata: {"status":"succeeded","result":null,"error":null}\r\n\r\n';
    const events = [];
    for (let i = 0; i < stream.length; i += 7) events.push(...parser.push(stream.slice(i, i + 7)));
    expect(events).toEqual([
      { id: '1700000000000-0', type: 'step', data: { name: 'share', status: 'running', attempts: 1 } },
      { id: '1700000000001-0', type: 'end', data: { status: 'succeeded', result: null, error: null } },
    ]);
  });

  it('ignores events of unknown types', () => {
    expect(new EventStreamParser().push('id: 1-0\nevent: other\ndata: {}\n\n')).toEqual([]);
  });
});

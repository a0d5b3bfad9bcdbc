import { readEvents, type ServerSentEvent } from '@imagegen/client';

/** A body that arrives in exactly these chunks, as a network may cut it. */
function body(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function all(stream: ReadableStream<Uint8Array>): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  for await (const event of readEvents(stream)) events.push(event);
  return events;
}

describe('readEvents', () => {
  it('reads events, ids, retry and comments as the API sends them', async () => {
    const events = await all(
      body(
        'retry: 2000\n\n',
        'id: 1-0\nevent: status\ndata: {"a":1}\n\n',
        ': heartbeat\n\n',
        'event: notice\ndata: x\n\n',
      ),
    );
    expect(events).toEqual([
      { id: '1-0', event: 'status', data: '{"a":1}' },
      // An event without an id keeps the last one: it is what a reconnect resumes from.
      { id: '1-0', event: 'notice', data: 'x' },
    ]);
  });

  it('joins multi-line data, defaults the type to message, and drops one leading space only', async () => {
    expect(await all(body('data:  two\ndata:lines\n\n'))).toEqual([
      { id: undefined, event: 'message', data: ' two\nlines' },
    ]);
  });

  it('is not misled by chunks cut anywhere, CRLF split across two included', async () => {
    const text = 'id: 7-1\r\nevent: status\r\ndata: {"b":2}\r\n\r\nevent: notice\rdata: y\r\r';
    const expected = [
      { id: '7-1', event: 'status', data: '{"b":2}' },
      { id: '7-1', event: 'notice', data: 'y' },
    ];
    for (let cut = 1; cut < text.length; cut++) {
      expect(await all(body(text.slice(0, cut), text.slice(cut)))).toEqual(expected);
    }
    expect(await all(body(...text.split('')))).toEqual(expected);
  });

  it('dispatches nothing for an event the stream ended in the middle of', async () => {
    expect(await all(body('event: status\ndata: {"c":3}\n'))).toEqual([]);
  });
});

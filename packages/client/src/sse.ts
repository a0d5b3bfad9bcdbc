import { createParser } from 'eventsource-parser';

/** One Server-Sent Event, as the SSE spec dispatches it. */
export interface ServerSentEvent {
  /** The last `id:` seen so far on the stream: what `Last-Event-ID` resumes from. */
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * The events of an SSE body. Parsed with `eventsource-parser` rather than `EventSource`, which
 * cannot send an Authorization header, and which Node has no stable build of.
 */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  const ready: ServerSentEvent[] = [];
  let lastId: string | undefined;
  const parser = createParser({
    onEvent(message) {
      // The parser gives an event the id of its own block; a reconnect resumes from the last one seen.
      lastId = message.id ?? lastId;
      ready.push({ id: lastId, event: message.event ?? 'message', data: message.data });
    },
  });
  let endsWithCr = false;
  for await (const chunk of body) {
    const text = decoder.decode(chunk, { stream: true });
    if (text !== '') endsWithCr = text.endsWith('\r');
    parser.feed(text);
    yield* ready.splice(0);
  }
  // The parser holds a final CR in case an LF follows; the stream has ended, so it did end a line.
  if (endsWithCr) parser.feed('\n');
  yield* ready.splice(0);
}

/** One Server-Sent Event, as the SSE spec dispatches it. */
export interface ServerSentEvent {
  /** The last `id:` seen so far on the stream: what `Last-Event-ID` resumes from. */
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * The events of an SSE body, per the WHATWG parsing rules (CR, LF or CRLF line ends; comments;
 * multi-line `data`). Written here rather than taken from `EventSource`, which cannot send an
 * Authorization header, and which Node has no stable build of.
 */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  const parser = new LineParser();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    // A CR at the end may be the first half of a CRLF: it waits for the next chunk.
    const held = buffer.endsWith('\r');
    const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
    // The last piece is a line still arriving.
    buffer = (lines.pop() ?? '') + (held ? '\r' : '');
    for (const line of lines) {
      const event = parser.line(line);
      if (event) yield event;
    }
  }
  // The stream's last CR had no LF after it: it did end a line.
  if (buffer.endsWith('\r')) {
    const event = parser.line(buffer.slice(0, -1));
    if (event) yield event;
  }
}

/** The fields of the event being read; a blank line dispatches it. */
class LineParser {
  private lastId: string | undefined;
  private event = '';
  private data: string[] = [];

  line(line: string): ServerSentEvent | undefined {
    if (line === '') {
      const event =
        this.data.length > 0
          ? { id: this.lastId, event: this.event || 'message', data: this.data.join('\n') }
          : undefined;
      this.event = '';
      this.data = [];
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return undefined;
  }
}

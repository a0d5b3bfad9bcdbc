import { EventEmitter, once } from 'node:events';
import { createParser } from 'eventsource-parser';

/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `id:` field of this event's block, if it had one. */
  id: string | undefined;
  /** The `event:` field (`message` when absent). */
  event: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
}

/** Everything read off the stream, in arrival order. */
export type SseItem =
  { kind: 'event'; event: SseEvent } | { kind: 'comment'; text: string } | { kind: 'retry'; ms: number };

/**
 * A Server-Sent Events client over fetch, as EventSource would be but with every line kept:
 * events (`id:`, `event:`, `data:`), comments (`: heartbeat`) and `retry:`. It reads in the
 * background; tests wait on what arrives (`waitFor`, `nextEvent`, `ended`) rather than sleep.
 */
export class SseClient {
  readonly items: SseItem[] = [];
  /** Set once the server ends the body (or the read fails; see `error`). */
  done = false;
  error: unknown;
  private readonly changes = new EventEmitter();
  private readonly controller: AbortController;
  private eventsTaken = 0;

  private constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: Headers,
    private readonly res: Response,
    controller: AbortController,
  ) {
    this.controller = controller;
    this.changes.setMaxListeners(0);
  }

  /**
   * Opens `url` with `Accept: text/event-stream` and any `headers` (Authorization, Last-Event-ID).
   * Resolves once the response headers arrive; a non-200 answer's JSON body is in `body()`.
   */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    const client = new SseClient(url, res.status, res.headers, res, controller);
    if (res.ok && res.headers.get('content-type')?.startsWith('text/event-stream')) void client.read();
    return client;
  }

  /** The body of an answer that is not a stream (an error's JSON). */
  async body(): Promise<unknown> {
    const text = await this.res.text();
    return this.res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  }

  get events(): SseEvent[] {
    return this.items.flatMap((item) => (item.kind === 'event' ? [item.event] : []));
  }

  get comments(): string[] {
    return this.items.flatMap((item) => (item.kind === 'comment' ? [item.text] : []));
  }

  /** The events' data, parsed as JSON. */
  get data(): unknown[] {
    return this.events.map((e) => JSON.parse(e.data) as unknown);
  }

  /** The id a reconnecting EventSource would send as Last-Event-ID. */
  get lastEventId(): string | undefined {
    return this.events.reduce<string | undefined>((last, e) => e.id ?? last, undefined);
  }

  /** Resolves once `check` holds of what has arrived; rejects if the stream ends first or on timeout. */
  async waitFor(what: string, check: (client: SseClient) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check(this)) return;
      if (this.done) throw new Error(`stream ended before ${what}; got ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; got ${this.describe()}`);
      await this.change(left);
    }
  }

  /** The next event not yet taken by `nextEvent` (events are taken in order). */
  async nextEvent(timeoutMs = 20_000): Promise<SseEvent> {
    const n = this.eventsTaken + 1;
    await this.waitFor(`event #${n}`, (c) => c.events.length >= n, timeoutMs);
    this.eventsTaken = n;
    return this.events[n - 1]!;
  }

  /** Resolves once the server has ended the stream. */
  async ended(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stream still open after ${timeoutMs} ms; got ${this.describe()}`);
      await this.change(left);
    }
    if (this.error) throw new Error(`stream failed: ${String(this.error)}; got ${this.describe()}`);
  }

  /** Drops the connection (idempotent). */
  close(): void {
    this.controller.abort();
  }

  describe(): string {
    return JSON.stringify(
      this.items.map((item) =>
        item.kind === 'event'
          ? { id: item.event.id, event: item.event.event, data: item.event.data.slice(0, 80) }
          : item,
      ),
    );
  }

  private async change(ms: number): Promise<void> {
    const timeout = AbortSignal.timeout(ms);
    try {
      await once(this.changes, 'change', { signal: timeout });
    } catch (err) {
      if (!timeout.aborted) throw err;
    }
  }

  private push(item: SseItem): void {
    this.items.push(item);
    this.changes.emit('change');
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    const parser = createParser({
      onEvent: ({ id, event, data }) => this.push({ kind: 'event', event: { id, event: event ?? 'message', data } }),
      onComment: (text) => this.push({ kind: 'comment', text }),
      onRetry: (ms) => this.push({ kind: 'retry', ms }),
    });
    try {
      for await (const chunk of this.res.body as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch (err) {
      // Our own close() is not a failure.
      if (!this.controller.signal.aborted) this.error = err;
    } finally {
      this.done = true;
      this.changes.emit('change');
    }
  }
}

/** Every client opened through it, for closing them all in afterAll. */
export class SseClients {
  private readonly clients = new Set<SseClient>();

  async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await SseClient.open(url, headers);
    this.clients.add(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.clients) client.close();
    this.clients.clear();
  }
}

import type { Response } from 'express';
import {
  isTerminal,
  type GenerationDocument,
  type GenerationEvent,
  type GenerationEvents,
  type StoredEvent,
} from '@imagegen/shared';
import type { EventHub } from '../infra/event-hub';
import type { QueueStandings } from '../infra/queue-standing';
import type { GenerationViews } from './generation.mapper';

/** The id of a status made up from the record; Redis stream ids start above it. */
const SYNTHETIC_ID = '0-0';

const ends = (event: GenerationEvent) => event.type === 'status' && isTerminal(event.status);

/**
 * Server-Sent Events of one generation, read from its event stream in Redis: every event after
 * `Last-Event-ID` (all of them on a first connection), then each new one as it is written, by this
 * process or any other, until the terminal status. While the generation is pending, `queue` events
 * tell its place as it changes. Heartbeats keep it open; a client that goes away is cleaned up at once.
 */
export class GenerationStreams {
  /** Each open stream's end. */
  private readonly open = new Map<Response, () => void>();
  private readonly waits = new Set<AbortController>();
  /** Set by closeAll: streams opened after it replay what there is and end at once. */
  private closed = false;

  constructor(
    private readonly events: GenerationEvents,
    private readonly hub: EventHub,
    private readonly views: GenerationViews,
    private readonly standings: QueueStandings,
    private readonly timing: {
      /** A comment line this often keeps proxies and browsers from closing an idle stream. */
      heartbeatMs: number;
      /** How often a pending generation's place is read again (jobs ahead of it start at any time). */
      queuePlaceMs: number;
    },
  ) {}

  /** Streams open now (each ends at its generation's end, or when its client goes away). */
  get openCount(): number {
    return this.open.size;
  }

  async stream(res: Response, doc: GenerationDocument, lastEventId?: string): Promise<void> {
    const id = doc._id.toHexString();
    let last = lastEventId;
    let sentAny = last !== undefined;
    // A retried generation's stream still holds its earlier runs, whose final status would end a
    // new connection at once: one without Last-Event-ID starts at the current run's first status.
    const run = doc.history.length;
    let current = lastEventId !== undefined;
    // A client that already had the end (EventSource reconnects whenever a stream closes): 204 is
    // how SSE tells it to stop reconnecting.
    if (last && (await this.hadTheEnd(id, last, doc))) {
      res.status(204).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Nginx and the like would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');

    let done = false;
    let reading: Promise<void> | null = null;
    let again = false;
    let status = doc.status;
    /** The place last sent, so that an unchanged one is not sent again. */
    let place: string | null = null;
    let placing = false;
    const finish = () => {
      if (done) return;
      done = true;
      unfollow();
      clearInterval(heartbeat);
      clearInterval(placeCheck);
      this.open.delete(res);
      res.end();
    };
    const send = ({ id: eventId, event }: Partial<StoredEvent> & { event: GenerationEvent }) => {
      res.write(`${eventId ? `id: ${eventId}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      if (event.type === 'queue') return;
      sentAny = true;
      if (event.type === 'status') status = event.status;
      if (ends(event)) finish();
    };
    // A pending status goes out with the place it has now, so a client never shows "queued" alone.
    const sendStatus = async (stored: StoredEvent) => {
      const { event } = stored;
      if (event.type !== 'status' || event.status !== 'pending') return send(stored);
      const now = await this.standings.of(doc);
      if (done) return;
      place = JSON.stringify(now);
      send({ ...stored, event: { ...event, generation: { ...event.generation, ...now } } });
    };
    // Jobs ahead start, or are canceled, without an event of this generation's: read the place again.
    const sendPlace = async () => {
      if (done || placing || status !== 'pending') return;
      placing = true;
      try {
        const now = await this.standings.of(doc);
        if (done || status !== 'pending' || JSON.stringify(now) === place) return;
        place = JSON.stringify(now);
        send({ event: { type: 'queue', ...now } });
      } finally {
        placing = false;
      }
    };
    // One read at a time, in order; a notice during a read makes one more read after it.
    const catchUp = (): Promise<void> => {
      if (reading) {
        again = true;
        return reading;
      }
      reading = (async () => {
        do {
          again = false;
          for (const stored of await this.events.after(id, last)) {
            if (done) return;
            const { event } = stored;
            if (event.type === 'status') current ||= event.generation.history.length >= run;
            if (current) await sendStatus(stored);
            last = stored.id;
          }
        } while (again && !done);
      })().finally(() => (reading = null));
      return reading;
    };

    this.open.set(res, finish);
    const unfollow = this.hub.follow(id, () => void catchUp().catch(finish));
    const heartbeat = setInterval(() => {
      res.write(': heartbeat\n\n');
      // Also a safety net: a notice lost while Redis reconnected is made up for here.
      void catchUp().catch(finish);
    }, this.timing.heartbeatMs);
    const placeCheck = setInterval(() => void sendPlace().catch(finish), this.timing.queuePlaceMs);
    // The response closes when the client goes away (a request's own 'close' may come earlier).
    res.on('close', finish);

    await catchUp();
    // Nothing recorded (a generation older than its stream's retention): say where it stands now,
    // under the id before any real one, so that a reconnect resumes from the start of the stream.
    if (!done && !sentAny) {
      await sendStatus({
        id: SYNTHETIC_ID,
        event: { type: 'status', status: doc.status, generation: this.views.summary(doc) },
      });
    }
    // A pending status sent above already told the place.
    if (place === null) await sendPlace();
    // The server stopped while this stream was being opened: the client reconnects from here.
    if (this.closed) finish();
  }

  /** True when nothing follows `last` and the stream, or the record, has ended. */
  private async hadTheEnd(id: string, last: string, doc: GenerationDocument): Promise<boolean> {
    if ((await this.events.after(id, last)).length > 0) return false;
    if (isTerminal(doc.status)) return true;
    const event = await this.events.get(id, last);
    return event !== null && ends(event);
  }

  /** Ends every open stream and wait (and any opened later), so that a stopping server does not wait for them. */
  closeAll(): void {
    this.closed = true;
    for (const finish of [...this.open.values()]) finish();
    for (const wait of this.waits) wait.abort();
  }

  /**
   * Resolves once the generation has ended, after `ms`, or when `signal` aborts (the client went
   * away) or the server stops, whichever comes first.
   */
  async waitForEnd(
    id: string,
    ms: number,
    read: () => Promise<GenerationDocument | null>,
    signal: AbortSignal,
  ): Promise<void> {
    const stop = new AbortController();
    if (this.closed) stop.abort();
    this.waits.add(stop);
    const abort = () => stop.abort();
    signal.addEventListener('abort', abort);
    let notices = 0;
    let wake = () => undefined as void;
    const unfollow = this.hub.follow(id, () => {
      notices++;
      wake();
    });
    const deadline = Date.now() + ms;
    try {
      for (;;) {
        const seen = notices;
        const doc = await read();
        const left = deadline - Date.now();
        if (!doc || isTerminal(doc.status) || left <= 0 || stop.signal.aborted) return;
        // Something happened while reading: read again rather than sleep past it.
        if (notices !== seen) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          stop.signal.addEventListener('abort', wake, { once: true });
        });
      }
    } finally {
      unfollow();
      signal.removeEventListener('abort', abort);
      this.waits.delete(stop);
    }
  }
}

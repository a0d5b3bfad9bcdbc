import type { Response } from 'express';
import { isTerminal, type GenerationEvent } from '@imagegen/shared';
import type { GenerationDocument, GenerationEvents, StoredEvent } from '@imagegen/core';
import { RateLimitedError } from '../errors';
import type { EventHub } from '../infra/event-hub';
import type { QueuePlaceBoard } from '../infra/queue-place-board';
import type { QueueStandings } from '../infra/queue-standing';
import type { StreamSlots } from '../infra/stream-slots';
import type { GenerationViews } from './generation.mapper';

/** The id of a status made up from the record; Redis stream ids start above it. */
const SYNTHETIC_ID = '0-0';
/** Events read from Redis at a time: the most one connection holds at once, whatever the stream's length. */
const PAGE = 100;
/** Events read at a time back from the newest to find where the current run starts: a run has a few. */
const RUN_START_PAGE = 20;
/** Streams end with their generations, within seconds or minutes: when a refused one may try again. */
const RETRY_AFTER_SECONDS = 5;

const ends = (event: GenerationEvent) => event.type === 'status' && isTerminal(event.status);

export interface StreamSettings {
  /** A comment line this often keeps proxies and browsers from closing an idle stream. */
  heartbeatMs: number;
  /** Streams this instance holds open at once, all users together. */
  perInstance: number;
  /** Streams one user may hold open at once, across instances (StreamSlots counts them). */
  perUser: number;
}

/**
 * Server-Sent Events of one generation, read from its event stream in Redis: the current run's
 * events (or every event after `Last-Event-ID`), then each new one as it is written, by this
 * process or any other, until the terminal status. While the generation is pending, `queue` events
 * tell its place as it changes. Heartbeats keep it open; a client that goes away is cleaned up at
 * once. Each stream holds a file descriptor, memory and a share of the place reads for as long as
 * it lasts, so a user, and this instance, may hold only so many at once.
 */
export class GenerationStreams {
  /** Each open stream's end. */
  private readonly open = new Map<Response, () => void>();
  /** Streams admitted and not yet ended, counted before their first await so the cap holds under a burst. */
  private admitted = 0;
  private readonly waits = new Set<AbortController>();
  /** Set by closeAll: streams opened after it replay what there is and end at once. */
  private closed = false;

  constructor(
    private readonly events: GenerationEvents,
    private readonly hub: EventHub,
    private readonly views: GenerationViews,
    private readonly standings: QueueStandings,
    private readonly places: QueuePlaceBoard,
    private readonly slots: StreamSlots,
    private readonly settings: StreamSettings,
  ) {}

  /** Streams open now (each ends at its generation's end, or when its client goes away). */
  get openCount(): number {
    return this.open.size;
  }

  async stream(res: Response, doc: GenerationDocument, lastEventId?: string): Promise<void> {
    const id = doc._id.toHexString();
    // A client that already had the end (EventSource reconnects whenever a stream closes): 204 is
    // how SSE tells it to stop reconnecting.
    if (lastEventId && (await this.hadTheEnd(id, lastEventId, doc))) {
      res.status(204).end();
      return;
    }
    const giveBack = await this.admit(doc.user_id.toHexString());

    let done = false;
    let reading: Promise<void> | null = null;
    let again = false;
    let status = doc.status;
    let sentAny = false;
    /** Set once the replay is sent: a place read meanwhile must not come before the status it belongs to. */
    let live = false;
    /** The place last sent, so that an unchanged one is not sent again. */
    let place: string | null = null;
    /** Set once the stream follows its generation: the notices, the queue places and the heartbeat. */
    let unfollow = () => undefined as void;
    const finish = () => {
      if (done) return;
      done = true;
      unfollow();
      this.open.delete(res);
      this.admitted--;
      void giveBack().catch(() => undefined);
      res.end();
    };
    // Before any await: a client gone during the admission has closed the response already, and
    // one that goes later closes it now; either way its places are given back.
    this.open.set(res, finish);
    res.on('close', finish);
    if (res.closed) return finish();

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Nginx and the like would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');

    const send = ({ id: eventId, event }: Partial<StoredEvent> & { event: GenerationEvent }) => {
      res.write(`${eventId ? `id: ${eventId}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      if (event.type === 'queue') return;
      sentAny = true;
      if (event.type === 'status') status = event.status;
      if (ends(event)) finish();
    };
    const sendPlace = (now: { queue_position: number | null; estimated_start_seconds: number | null }) => {
      if (done || !live || status !== 'pending' || JSON.stringify(now) === place) return;
      place = JSON.stringify(now);
      send({ event: { type: 'queue', ...now } });
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

    // A retried generation's stream still holds its earlier runs, whose final status would end a
    // new connection at once: one without Last-Event-ID (or with only the made-up status's) starts
    // at the current run, found by reading back from the newest event.
    const fresh = !lastEventId || lastEventId === SYNTHETIC_ID;
    let last = fresh ? await this.events.runStart(id, doc.run, RUN_START_PAGE) : lastEventId;
    // One read at a time, in order, a page at a time; a notice during a read makes one more read after it.
    const catchUp = (): Promise<void> => {
      if (reading) {
        again = true;
        return reading;
      }
      reading = (async () => {
        do {
          again = false;
          let page: StoredEvent[];
          do {
            page = await this.events.after(id, last, PAGE);
            for (const stored of page) {
              if (done) return;
              await sendStatus(stored);
              last = stored.id;
            }
          } while (page.length === PAGE && !done);
        } while (again && !done);
      })().finally(() => (reading = null));
      return reading;
    };

    if (done) return;
    const unnotify = this.hub.follow(id, () => void catchUp().catch(finish));
    // Jobs ahead start, or are canceled, without an event of this generation's: one read of the
    // queue per interval for all of this instance's streams tells each its place.
    const unplace = this.places.follow(doc, sendPlace);
    const heartbeat = setInterval(() => {
      res.write(': heartbeat\n\n');
      // Also a safety net: a notice lost while Redis reconnected is made up for here.
      void catchUp().catch(finish);
    }, this.settings.heartbeatMs);
    unfollow = () => {
      unnotify();
      unplace();
      clearInterval(heartbeat);
    };

    await catchUp();
    // Nothing recorded (a generation older than its stream's retention): say where it stands now,
    // under the id before any real one, so that a reconnect starts again from the current run.
    if (!done && !sentAny && fresh) {
      await sendStatus({
        id: SYNTHETIC_ID,
        event: { type: 'status', status: doc.status, generation: this.views.streamed(doc) },
      });
    }
    live = true;
    // A pending status sent above already told the place.
    if (!done && place === null && status === 'pending') sendPlace(await this.standings.of(doc));
    // The server stopped while this stream was being opened: the client reconnects from here.
    if (this.closed) finish();
  }

  /**
   * Counts the stream against this instance's cap, then against the user's (across instances);
   * a 429 beyond either. The returned function gives the user's place back.
   */
  private async admit(userId: string): Promise<() => Promise<void>> {
    const { perInstance, perUser } = this.settings;
    if (this.admitted >= perInstance) {
      throw new RateLimitedError(
        `This server has as many event streams open as it may (${perInstance}); retry shortly`,
        RETRY_AFTER_SECONDS,
      );
    }
    this.admitted++;
    try {
      const giveBack = await this.slots.take(userId);
      if (giveBack) return giveBack;
    } catch (err) {
      this.admitted--;
      throw err;
    }
    this.admitted--;
    throw new RateLimitedError(
      `You have ${perUser} event streams open, the most allowed; close one, or wait for one to end`,
      RETRY_AFTER_SECONDS,
    );
  }

  /** True when nothing follows `last` and the stream, or the record, has ended. */
  private async hadTheEnd(id: string, last: string, doc: GenerationDocument): Promise<boolean> {
    if ((await this.events.after(id, last, 1)).length > 0) return false;
    if (isTerminal(doc.status)) return true;
    const event = await this.events.get(id, last);
    return event !== null && ends(event);
  }

  /** Ends every open stream and wait (and any opened later), so that a stopping server does not wait for them. */
  closeAll(): void {
    this.closed = true;
    for (const finish of [...this.open.values()]) finish();
    for (const wait of this.waits) wait.abort();
    this.places.stop();
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

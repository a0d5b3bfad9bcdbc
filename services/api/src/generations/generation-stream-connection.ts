import type { Response } from 'express';
import { isTerminal, type GenerationEvent, type GenerationStatus, type QueuePlace } from '@imagegen/shared';
import type { GenerationDocument, GenerationEvents, StoredEvent } from '@imagegen/core';
import type { EventHub } from '../infra/event-hub';
import type { QueuePlaceBoard } from '../infra/queue-place-board';
import type { QueueStandings } from '../infra/queue-standing';
import type { GenerationMapper } from './generation.mapper';

/** The id of a status made up from the record; Redis stream ids start above it. */
export const SYNTHETIC_ID = '0-0';
/** Events read from Redis at a time: the most one connection holds at once, whatever the stream's length. */
const PAGE = 100;
/** Events read at a time back from the newest to find where the current run starts: a run has a few. */
const RUN_START_PAGE = 20;

export const ends = (event: GenerationEvent) => event.type === 'status' && isTerminal(event.status);

/** What every connection reads from and follows. */
export interface StreamSources {
  events: GenerationEvents;
  hub: EventHub;
  mapper: GenerationMapper;
  standings: QueueStandings;
  places: QueuePlaceBoard;
  heartbeatMs: number;
}

type Place = Pick<QueuePlace, 'queue_position' | 'estimated_start_seconds'>;

/**
 * One client's event stream of one generation: the replay from where it left off, then each new
 * event as a notice of it arrives, queue places while pending, and heartbeats, until the status
 * that ends the generation or the client goes. `end()` is safe to call any number of times.
 */
export class GenerationStreamConnection {
  private ended = false;
  /** The read under way; a notice during it makes one more read after it (`again`). */
  private reading: Promise<void> | null = null;
  private again = false;
  private status: GenerationStatus;
  private sentAny = false;
  /** Set once the replay is sent: a place read meanwhile must not come before the status it belongs to. */
  private live = false;
  /** The place last sent, so that an unchanged one is not sent again. */
  private place: string | null = null;
  /** Where the reads resume: the id of the last event sent (none: from the stream's start). */
  private last: string | undefined;
  private unfollow = () => undefined as void;
  private readonly id: string;

  constructor(
    private readonly res: Response,
    private readonly doc: GenerationDocument,
    private readonly sources: StreamSources,
    /** Called once, when the stream ends. */
    private readonly onEnd: () => void,
  ) {
    this.id = doc._id.toHexString();
    this.status = doc.status;
  }

  get done(): boolean {
    return this.ended;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.unfollow();
    this.onEnd();
    this.res.end();
  }

  /** Sends the replay, then follows the generation; `lastEventId` as the client sent it. */
  async open(lastEventId: string | undefined): Promise<void> {
    const { res, doc, sources } = this;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Nginx and the like would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    // A retried generation's stream still holds its earlier runs, whose final status would end a
    // new connection at once: one without Last-Event-ID (or with only the made-up status's) starts
    // at the current run, found by reading back from the newest event.
    const fresh = !lastEventId || lastEventId === SYNTHETIC_ID;
    this.last = fresh ? await sources.events.runStart(this.id, doc.run, RUN_START_PAGE) : lastEventId;
    if (this.ended) return;
    this.follow();
    await this.catchUp();
    // Nothing recorded (a generation older than its stream's retention): say where it stands now,
    // under the id before any real one, so that a reconnect starts again from the current run.
    if (!this.ended && !this.sentAny && fresh) {
      await this.sendStatus({
        id: SYNTHETIC_ID,
        event: { type: 'status', status: doc.status, generation: sources.mapper.streamed(doc) },
      });
    }
    this.live = true;
    // A pending status sent above already told the place.
    if (!this.ended && this.place === null && this.status === 'pending')
      this.sendPlace(await sources.standings.of(doc));
  }

  private follow(): void {
    const { hub, places, heartbeatMs } = this.sources;
    const unnotify = hub.follow(this.id, () => void this.catchUp().catch(() => this.end()));
    // Jobs ahead start, or are canceled, without an event of this generation's: one read of the
    // queue per interval for all of this instance's streams tells each its place.
    const unplace = places.follow(this.doc, (now) => this.sendPlace(now));
    const heartbeat = setInterval(() => {
      this.res.write(': heartbeat\n\n');
      // Also a safety net: a notice lost while Redis reconnected is made up for here.
      void this.catchUp().catch(() => this.end());
    }, heartbeatMs);
    this.unfollow = () => {
      unnotify();
      unplace();
      clearInterval(heartbeat);
    };
  }

  /** One read at a time, in order, a page at a time. */
  private catchUp(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.readAll().finally(() => (this.reading = null));
    return this.reading;
  }

  private async readAll(): Promise<void> {
    do {
      this.again = false;
      let page: StoredEvent[];
      do {
        page = await this.sources.events.after(this.id, this.last, PAGE);
        for (const stored of page) {
          if (this.ended) return;
          await this.sendStatus(stored);
          this.last = stored.id;
        }
      } while (page.length === PAGE && !this.ended);
    } while (this.again && !this.ended);
  }

  private send({ id, event }: Partial<StoredEvent> & { event: GenerationEvent }): void {
    this.res.write(`${id ? `id: ${id}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (event.type === 'queue') return;
    this.sentAny = true;
    if (event.type === 'status') this.status = event.status;
    if (ends(event)) this.end();
  }

  private sendPlace(now: Place): void {
    if (this.ended || !this.live || this.status !== 'pending' || JSON.stringify(now) === this.place) return;
    this.place = JSON.stringify(now);
    this.send({ event: { type: 'queue', ...now } });
  }

  /** A pending status goes out with the place it has now, so a client never shows "queued" alone. */
  private async sendStatus(stored: StoredEvent): Promise<void> {
    const { event } = stored;
    if (event.type !== 'status' || event.status !== 'pending') return this.send(stored);
    const now = await this.sources.standings.of(this.doc);
    // A status from the stream, sent while the place was read (a worker took the job meanwhile), is
    // newer than the record the made-up one comes from: a client must never see it go back.
    if (this.ended || (stored.id === SYNTHETIC_ID && this.sentAny)) return;
    this.place = JSON.stringify(now);
    this.send({ ...stored, event: { ...event, generation: { ...event.generation, ...now } } });
  }
}

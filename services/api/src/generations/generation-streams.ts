import type { Response } from 'express';
import { isTerminal } from '@imagegen/shared';
import type { GenerationDocument } from '@imagegen/core';
import { RateLimitedError } from '../errors';
import type { StreamSlots } from '../infra/stream-slots';
import { GenerationStreamConnection, ends, type StreamSources } from './generation-stream-connection';

/** Streams end with their generations, within seconds or minutes: when a refused one may try again. */
const RETRY_AFTER_SECONDS = 5;

export interface StreamSettings {
  /** Streams this instance holds open at once, all users together. */
  perInstance: number;
  /** Streams one user may hold open at once, across instances (StreamSlots counts them). */
  perUser: number;
}

/**
 * Server-Sent Events of generations, each connection a `GenerationStreamConnection`: the current
 * run's events (or every event after `Last-Event-ID`), then each new one as it is written, by this
 * process or any other, until the terminal status. A client that goes away is cleaned up at once.
 * Each stream holds a file descriptor, memory and a share of the place reads for as long as it
 * lasts, so a user, and this instance, may hold only so many at once.
 */
export class GenerationStreams {
  private readonly open = new Set<GenerationStreamConnection>();
  /** Streams admitted and not yet ended, counted before their first await so the cap holds under a burst. */
  private admitted = 0;
  /** Set by closeAll: streams opened after it replay what there is and end at once. */
  private closed = false;

  constructor(
    private readonly sources: StreamSources,
    private readonly slots: StreamSlots,
    private readonly settings: StreamSettings,
  ) {}

  /** Streams open now (each ends at its generation's end, or when its client goes away). */
  get openCount(): number {
    return this.open.size;
  }

  async stream(res: Response, doc: GenerationDocument, lastEventId?: string): Promise<void> {
    // A client that already had the end (EventSource reconnects whenever a stream closes): 204 is
    // how SSE tells it to stop reconnecting.
    if (lastEventId && (await this.hadTheEnd(doc._id.toHexString(), lastEventId, doc))) {
      res.status(204).end();
      return;
    }
    const giveBack = await this.admit(doc.user_id.toHexString());
    const connection = new GenerationStreamConnection(res, doc, this.sources, () => {
      this.open.delete(connection);
      this.admitted--;
      void giveBack().catch(() => undefined);
    });
    // Before any await: a client gone during the admission has closed the response already, and
    // one that goes later closes it now; either way its places are given back.
    this.open.add(connection);
    res.on('close', () => connection.end());
    if (res.closed) return connection.end();
    await connection.open(lastEventId);
    // The server stopped while this stream was being opened: the client reconnects from here.
    if (this.closed) connection.end();
  }

  /** Ends every open stream (and any opened later), so that a stopping server does not wait for them. */
  closeAll(): void {
    this.closed = true;
    for (const connection of [...this.open]) connection.end();
    this.sources.places.stop();
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
    if ((await this.sources.events.after(id, last, 1)).length > 0) return false;
    if (isTerminal(doc.status)) return true;
    const event = await this.sources.events.get(id, last);
    return event !== null && ends(event);
  }
}

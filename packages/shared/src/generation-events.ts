import type { Redis } from 'ioredis';
import { z } from 'zod';
import { GenerationStatus, GenerationSummary, QueuePlace } from './generation';

/** What a generation's live stream (`GET /api/generations/:id/events`) carries, as each event's `data`. */
export const GenerationEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('status'),
    status: GenerationStatus,
    /** A `pending` event, as a stream sends it, also tells where the generation stood in the queue then. */
    generation: GenerationSummary.extend(QueuePlace.partial().shape),
  }),
  /** A wait inside a run: "model loading, retrying in 18 s". */
  z.object({ type: z.literal('notice'), message: z.string(), retry_in_seconds: z.number().nullable() }),
  /**
   * A pending generation's place, as on its record: sent when a stream opens on it and whenever the
   * place changes. It has no event id, since it is read from the queue, not stored.
   */
  z.object({ type: z.literal('queue'), ...QueuePlace.shape }),
]);
export type GenerationEvent = z.infer<typeof GenerationEvent>;

export interface StoredEvent {
  /** The Redis stream entry id: increasing, and the SSE `id` a client resumes from. */
  id: string;
  event: GenerationEvent;
}

/** A stream lives a day after its last event; long enough for any client to resume. */
const TTL_SECONDS = 24 * 3600;
/** Events kept per generation; far more than one run makes. */
const MAX_EVENTS = 500;

/**
 * Each generation's events, in a Redis stream of its own, written by whichever process changes the
 * generation (API or worker), with a notice on one pub/sub channel so that every API instance
 * streaming it reads the new entries. The stream makes `Last-Event-ID` resumption exact.
 */
export class GenerationEvents {
  readonly channel: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.channel = `${prefix}:generation-events`;
  }

  async append(generationId: string, event: GenerationEvent): Promise<void> {
    const key = this.key(generationId);
    await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '~', MAX_EVENTS, '*', 'event', JSON.stringify(event))
      .expire(key, TTL_SECONDS)
      .publish(this.channel, generationId)
      .exec();
  }

  /** The events after `lastId` (all of them without one), oldest first. */
  async after(generationId: string, lastId?: string): Promise<StoredEvent[]> {
    const entries = await this.redis.xrange(this.key(generationId), lastId ? `(${lastId}` : '-', '+');
    return entries.map(([id, fields]) => ({ id, event: JSON.parse(fields[1] ?? 'null') as GenerationEvent }));
  }

  /** The event of this id, if the stream still has it. */
  async get(generationId: string, eventId: string): Promise<GenerationEvent | null> {
    const [entry] = await this.redis.xrange(this.key(generationId), eventId, eventId);
    return entry ? (JSON.parse(entry[1][1] ?? 'null') as GenerationEvent) : null;
  }

  private key(generationId: string): string {
    return `${this.prefix}:generation-events:${generationId}`;
  }
}

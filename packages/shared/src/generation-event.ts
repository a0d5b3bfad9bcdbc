import { z } from 'zod';
import { GenerationStatus, GenerationSummary, QueuePlace } from './generation';

/**
 * A generation as its stream events carry it: the summary without `history`. Every status event is
 * stored and read again by each connection, so it must not grow with the runs that came before (a
 * generation retried over and over made each event, and its stream, grow without end); the record
 * (`GET /api/generations/:id`) has them.
 */
export const StreamedGeneration = GenerationSummary.omit({ history: true });
export type StreamedGeneration = z.infer<typeof StreamedGeneration>;

/** What a generation's live stream (`GET /api/generations/:id/events`) carries, as each event's `data`. */
export const GenerationEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('status'),
    status: GenerationStatus,
    /**
     * The generation, without its `history` of earlier runs. A `pending` event, as a stream sends
     * it, also tells where the generation stood in the queue then.
     */
    generation: StreamedGeneration.extend(QueuePlace.partial().shape),
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

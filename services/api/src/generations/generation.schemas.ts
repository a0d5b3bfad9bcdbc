import { z } from 'zod';

/** The most a `Prefer: wait=N` holds a create request (Replicate's bound too). */
export const MAX_WAIT_SECONDS = 60;

/**
 * Headers of `POST /api/generations`. `Prefer: wait=N` asks to hold the answer until the generation
 * ends or N seconds pass; like any preference it is ignored when unreadable, and capped at 60.
 * `Prefer: respond-async` asks not to wait at all. Neither: undefined, and CREATE_WAIT_SECONDS says.
 */
export const CreateGenerationHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1, 'must not be empty')
    .max(255, 'must be at most 255 characters')
    .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII')
    .optional()
    .meta({ description: 'Repeating a create with the same key (and body) within a day returns the same generation' }),
  prefer: z
    .string()
    .optional()
    .transform((prefer) => {
      if (/(?:^|[,;\s])respond-async(?:$|[,;\s])/.test(prefer ?? '')) return 0;
      const seconds = /(?:^|[,;\s])wait=(\d+)/.exec(prefer ?? '')?.[1];
      return seconds === undefined ? undefined : Math.min(MAX_WAIT_SECONDS, Number(seconds));
    })
    .meta({
      description:
        `\`wait=N\`: hold the answer until the generation ends or N seconds (≤ ${MAX_WAIT_SECONDS}) pass; ` +
        '`respond-async`: answer 202 at once. Without either, the server waits CREATE_WAIT_SECONDS (0 unless set)',
    }),
});
export type CreateGenerationHeaders = z.infer<typeof CreateGenerationHeaders>;

/** The largest part of a Redis stream id (an unsigned 64-bit integer). */
const MAX_ID_PART = 2n ** 64n - 1n;

/**
 * A Redis stream id that Redis takes as the exclusive start of a range: each part at most 2^64 - 1
 * (Redis answers a larger one with an error, which was a 500), and not the largest id of all,
 * after which there is no range.
 */
const StreamId = z
  .string()
  // Aborts: the refinement below reads only what has this shape.
  .regex(/^\d{1,20}-\d{1,20}$/, { message: 'must be the id of an event of this stream', abort: true })
  .refine((id) => {
    const [ms = 0n, seq = 0n] = id.split('-').map(BigInt);
    return ms <= MAX_ID_PART && seq <= MAX_ID_PART && !(ms === MAX_ID_PART && seq === MAX_ID_PART);
  }, 'must be the id of an event of this stream');

/** Headers of `GET /api/generations/:id/events`: where a reconnecting client left off. */
export const EventsHeaders = z.object({
  'last-event-id': StreamId.optional().meta({
    description: 'Resume after this event (EventSource sends it when it reconnects)',
  }),
});
export type EventsHeaders = z.infer<typeof EventsHeaders>;

/** `GET /api/generations/:id/events?token=…`: a stream token, for EventSource, which sends no headers. */
export const EventsQuery = z.strictObject({ token: z.string().max(2048).optional() });
export type EventsQuery = z.infer<typeof EventsQuery>;

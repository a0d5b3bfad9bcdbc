import { z } from 'zod';

/** The most a `Prefer: wait=N` holds a create request (Replicate's bound too). */
export const MAX_WAIT_SECONDS = 60;

/**
 * Headers of `POST /api/generations`. `Prefer: wait=N` asks to hold the answer until the generation
 * ends or N seconds pass; like any preference it is ignored when unreadable, and capped at 60.
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
      const seconds = /(?:^|[,;\s])wait=(\d+)/.exec(prefer ?? '')?.[1];
      return seconds === undefined ? 0 : Math.min(MAX_WAIT_SECONDS, Number(seconds));
    })
    .meta({
      description: `\`wait=N\`: hold the answer until the generation ends or N seconds (≤ ${MAX_WAIT_SECONDS}) pass`,
    }),
});
export type CreateGenerationHeaders = z.infer<typeof CreateGenerationHeaders>;

/** Headers of `GET /api/generations/:id/events`: where a reconnecting client left off. */
export const EventsHeaders = z.object({
  'last-event-id': z
    .string()
    .regex(/^\d+-\d+$/, 'must be the id of an event of this stream')
    .optional()
    .meta({ description: 'Resume after this event (EventSource sends it when it reconnects)' }),
});
export type EventsHeaders = z.infer<typeof EventsHeaders>;

/** `GET /api/generations/:id/events?token=…`: a stream token, for EventSource, which sends no headers. */
export const EventsQuery = z.strictObject({ token: z.string().max(2048).optional() });
export type EventsQuery = z.infer<typeof EventsQuery>;

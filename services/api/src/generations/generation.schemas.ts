import { z } from 'zod';
import { parsePrefer } from '../http/prefer';

/** The most a `Prefer: wait=N` holds a create request (Replicate's bound too). */
export const MAX_WAIT_SECONDS = 60;

/**
 * What a `Prefer` header (RFC 7240) asks of a generation's answer: `wait` and `respond-async` of a
 * create, `return=minimal` of any answer with a whole record. Like any preference, what cannot be
 * read is ignored rather than refused.
 */
export interface Preferences {
  /** Seconds to hold a create's answer (0: `respond-async`); undefined: no preference stated. */
  wait: number | undefined;
  representation: Representation;
}

/**
 * How much of a record an answer carries. `minimal` (`Prefer: return=minimal`): without its images'
 * bytes, `image_url` null while `urls.image` and `images[].url` still name where to fetch them, so
 * that a client that polls, or shows thumbnails, does not download a megabyte of base64 per answer.
 */
export type Representation = 'full' | 'minimal';

export function preferencesOf(prefer: string | undefined): Preferences {
  const preferences = parsePrefer(prefer);
  const representation = preferences.get('return')?.toLowerCase() === 'minimal' ? 'minimal' : 'full';
  if (preferences.has('respond-async')) return { wait: 0, representation };
  const seconds = preferences.get('wait');
  const wait = seconds !== undefined && /^\d+$/.test(seconds) ? Math.min(MAX_WAIT_SECONDS, Number(seconds)) : undefined;
  return { wait, representation };
}

/** What `Preference-Applied` says of `preferences` as honoured: the wait, when one was asked, and `return=minimal`. */
export function appliedPreferences({ wait, representation }: Preferences): string | undefined {
  const applied = [...(wait ? [`wait=${wait}`] : []), ...(representation === 'minimal' ? ['return=minimal'] : [])];
  return applied.length ? applied.join(', ') : undefined;
}

const RETURN_MINIMAL =
  "`return=minimal`: answer the record without its images' bytes (`image_url` null; `urls.image` and `images[].url` say where to fetch them)";

/**
 * Headers of `POST /api/generations`. `Prefer: wait=N` asks to hold the answer until the generation
 * ends or N seconds pass, capped at 60; `Prefer: respond-async` asks not to wait at all. Neither:
 * CREATE_WAIT_SECONDS says.
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
    .transform(preferencesOf)
    .meta({
      description:
        `\`wait=N\`: hold the answer until the generation ends or N seconds (≤ ${MAX_WAIT_SECONDS}) pass; ` +
        '`respond-async`: answer 202 at once. Without either, the server waits CREATE_WAIT_SECONDS (0 unless set). ' +
        RETURN_MINIMAL,
    }),
});
export type CreateGenerationHeaders = z.infer<typeof CreateGenerationHeaders>;

/** Headers of `GET /api/generations/:id`, which honours `return=minimal` only: a get does not wait. */
export const GetGenerationHeaders = z.object({
  prefer: z
    .string()
    .optional()
    .transform((prefer): Preferences => ({ wait: undefined, representation: preferencesOf(prefer).representation }))
    .meta({ description: RETURN_MINIMAL }),
});
export type GetGenerationHeaders = z.infer<typeof GetGenerationHeaders>;

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

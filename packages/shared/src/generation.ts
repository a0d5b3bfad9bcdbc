import { z } from 'zod';
import { GenerationSettings } from './generation-request';
import { ServingProvider } from './providers';
import { WebhookEvent } from './webhook-request';

// Spelled without the `i` flag: JSON Schema patterns (OpenAPI) carry no flags.
export const ObjectIdString = z.string().regex(/^[0-9a-fA-F]{24}$/, 'must be a 24-character hex id');

export const GenerationStatus = z.enum(['pending', 'processing', 'completed', 'failed', 'canceled']);
export type GenerationStatus = z.infer<typeof GenerationStatus>;

/** The states a generation does not leave (unless retried). */
export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['completed', 'failed', 'canceled'];
export const isTerminal = (status: GenerationStatus) => TERMINAL_STATUSES.includes(status);

/** Why a generation was canceled: by its owner, or because it was not done by its `cancel_after`. */
export const CancelReason = z.enum(['user', 'deadline']);
export type CancelReason = z.infer<typeof CancelReason>;

export const ImageMeta = z.object({
  mime_type: z.enum(['image/png', 'image/jpeg', 'image/webp']),
  size_bytes: z.int(),
  width: z.int(),
  height: z.int(),
});
export type ImageMeta = z.infer<typeof ImageMeta>;

/** One image of a generation: its place among them (0 is the first), what it is, and where its bytes are. */
export const GeneratedImage = ImageMeta.extend({
  index: z.int().min(0),
  /** `GET /api/generations/:id/images/:index`, or, with IMAGE_URLS=presigned, a presigned URL on the bucket. */
  url: z.url(),
});
export type GeneratedImage = z.infer<typeof GeneratedImage>;
export type ImageMimeType = ImageMeta['mime_type'];

/**
 * The most runs one generation may have (the first and its retries): a retry past them is refused
 * (409), so that a cancel/retry loop cannot make unbounded provider calls for one generation, nor
 * grow its `history` without end. Another run takes a new generation.
 */
export const MAX_RUNS = 20;

/** A finished run of a generation that was retried afterwards: how it ended. */
export const PastRun = z.object({
  status: GenerationStatus,
  error: z.string().nullable(),
  started_at: z.iso.datetime().nullable(),
  ended_at: z.iso.datetime().nullable(),
  retried_at: z.iso.datetime(),
});
export type PastRun = z.infer<typeof PastRun>;

/** Where a generation's own routes are, as absolute URLs. */
export const GenerationUrls = z.object({
  get: z.url(),
  cancel: z.url(),
  events: z.url(),
  /** The API's `/image` route, or, with IMAGE_URLS=presigned, a presigned URL on the bucket. */
  image: z.url(),
  /** When a presigned `image` URL stops working; null for the API's route, which does not expire. */
  image_expires_at: z.iso.datetime().nullable(),
});
export type GenerationUrls = z.infer<typeof GenerationUrls>;

/** A generation as clients see it in lists: everything but the image bytes. */
export const GenerationSummary = z.object({
  id: ObjectIdString,
  user_id: ObjectIdString,
  prompt: z.string(),
  status: GenerationStatus,
  settings: GenerationSettings,
  /** Who produced (or is producing) the image; null until a provider has been chosen. */
  provider: ServingProvider.nullable(),
  /** The first image (`images[0]`), as the original API described its one image; null until completed. */
  image: ImageMeta.nullable(),
  /** Every image, in order, once completed (`settings.num_images` of them); empty before. */
  images: z.array(GeneratedImage),
  /**
   * True once the retention period (RETENTION_IMAGES_DAYS) removed the image: the record stays,
   * `image` still describes what it was, and `/image` answers 410 Gone.
   */
  image_expired: z.boolean(),
  error: z.string().nullable(),
  cancel_reason: CancelReason.nullable(),
  /** When it is canceled if not done by then (`cancel_after`). */
  deadline_at: z.iso.datetime().nullable(),
  attempts: z.int(),
  /** Earlier runs, oldest first, when the generation was retried after it ended (at most MAX_RUNS - 1). */
  history: z.array(PastRun).max(MAX_RUNS - 1),
  webhook_url: z.string().nullable(),
  webhook_events: z.array(WebhookEvent),
  created_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  completed_at: z.iso.datetime().nullable(),
  urls: GenerationUrls,
});
export type GenerationSummary = z.infer<typeof GenerationSummary>;

/** Where a pending generation stands in the queue. */
export const QueuePlace = z.object({
  /** While pending: 1 when it is the next to start; null once it runs (or while it waits to retry). */
  queue_position: z.int().nullable(),
  /**
   * While pending: about when it starts, from the workers' recent average run time; null if unknown.
   * 0 with position 1 once a worker has taken the job, until the record says `processing`.
   */
  estimated_start_seconds: z.number().nullable(),
});
export type QueuePlace = z.infer<typeof QueuePlace>;

/** The place of a generation that is not waiting in the queue. */
export const NOT_QUEUED: QueuePlace = { queue_position: null, estimated_start_seconds: null };

/** A single generation: the summary plus `image_url`, a data URL once completed, as the original API gave it. */
export const Generation = GenerationSummary.extend({
  image_url: z
    .string()
    .regex(/^data:image\/(?:png|jpeg|webp);base64,[A-Za-z0-9+/]*={0,2}$/)
    .meta({
      description:
        'Once completed, the image itself as a base64 data URL (`data:image/png;base64,…`); else null, and null ' +
        'too in an answer to `Prefer: return=minimal` (then `urls.image` fetches it).',
    })
    .nullable(),
  ...QueuePlace.shape,
});
export type Generation = z.infer<typeof Generation>;

/** `POST /api/generations/:id/events/token`: a short-lived token for `EventSource`, and the events URL carrying it. */
export const StreamToken = z.object({ token: z.string(), expires_in: z.int(), url: z.url() });
export type StreamToken = z.infer<typeof StreamToken>;

/** Query of `GET /api/generations`. */
export const ListGenerationsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(/^[0-9a-fA-F]{24}$/, 'must be the next_cursor of a previous page')
    .optional(),
  status: GenerationStatus.optional(),
});
export type ListGenerationsQuery = z.infer<typeof ListGenerationsQuery>;

export const GenerationPage = z.object({
  items: z.array(GenerationSummary),
  next_cursor: z.string().nullable(),
});
export type GenerationPage = z.infer<typeof GenerationPage>;

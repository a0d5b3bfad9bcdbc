import { z } from 'zod';
import { Text } from './text';
import { parseDuration } from './durations';
import { STYLE_NAMES } from './styles';
import { WebhookEvent, WebhookEvents, WebhookUrl } from './webhook-request';
import { OPENAI_MODELS, RequestedProvider, ServingProvider } from './providers';

// Spelled without the `i` flag: JSON Schema patterns (OpenAPI) carry no flags.
export const ObjectIdString = z.string().regex(/^[0-9a-fA-F]{24}$/, 'must be a 24-character hex id');

/**
 * A Hugging Face model id (`owner/name`), or an OpenAI Images model. A `.` or `..` segment is
 * refused: the id becomes part of a URL path, where such a segment would climb out of it.
 */
export const ModelId = z
  .string()
  .max(96)
  .refine(
    (id) =>
      (OPENAI_MODELS as readonly string[]).includes(id) ||
      (/^[\w.-]+\/[\w.-]+$/.test(id) && id.split('/').every((part) => part !== '.' && part !== '..')),
    `must be a Hugging Face model id, owner/name (or an OpenAI model: ${OPENAI_MODELS.join(', ')})`,
  );

const Dimension = z
  .int()
  .min(256)
  .max(1024)
  .refine((n) => n % 8 === 0, 'must be a multiple of 8');

export const GenerationStatus = z.enum(['pending', 'processing', 'completed', 'failed', 'canceled']);
export type GenerationStatus = z.infer<typeof GenerationStatus>;

/** The states a generation does not leave (unless retried). */
export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['completed', 'failed', 'canceled'];
export const isTerminal = (status: GenerationStatus) => TERMINAL_STATUSES.includes(status);

/** Why a generation was canceled: by its owner, or because it was not done by its `cancel_after`. */
export const CancelReason = z.enum(['user', 'deadline']);
export type CancelReason = z.infer<typeof CancelReason>;

/** The longest `cancel_after` a request may ask for. */
export const MAX_CANCEL_AFTER_MS = 3_600_000;

/** `"90s"`, `"10m"`, `"1h"`: how long a generation may take before it is canceled, in ms. */
export const CancelAfter = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (!ms || ms > MAX_CANCEL_AFTER_MS) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as "90s" or "10m", at most 1h' });
    return z.NEVER;
  }
  return ms;
});

/** Body of `POST /api/generations`. Unknown fields are refused so that typos never pass silently. */
export const CreateGenerationRequest = z
  .strictObject({
    prompt: Text().trim().min(1, 'must not be empty').max(2000),
    negative_prompt: Text().trim().max(2000).optional(),
    width: Dimension.default(512),
    height: Dimension.default(512),
    num_inference_steps: z.int().min(1).max(150).optional(),
    guidance_scale: z.number().min(0).max(50).optional(),
    seed: z.int().min(0).max(4_294_967_295).optional(),
    model: ModelId.optional(),
    /** Serve it through this provider only; left out, providers are chosen as HF_PROVIDER says. */
    provider: RequestedProvider.optional(),
    style: z.enum(STYLE_NAMES).nullable().default(null),
    /** Called when the generation starts or ends (see `webhook_events`), signed per Standard Webhooks. */
    webhook_url: WebhookUrl.optional(),
    /** Which events reach `webhook_url`; `["completed"]` when left out. */
    webhook_events: WebhookEvents.optional(),
    /** Cancel the generation if it has not ended this long after it was created (≤ 1h). */
    cancel_after: CancelAfter.optional(),
  })
  .refine((body) => body.webhook_url !== undefined || body.webhook_events === undefined, {
    path: ['webhook_url'],
    message: 'is required when webhook_events is given',
  });
export type CreateGenerationRequest = z.infer<typeof CreateGenerationRequest>;

/** What the model is asked for; stored on the record and sent to Hugging Face as `parameters`. */
export const GenerationSettings = z.object({
  width: z.int(),
  height: z.int(),
  model: ModelId,
  /** The provider the request asked for; null when it left the choice to the service. */
  provider: RequestedProvider.nullable(),
  style: z.enum(STYLE_NAMES).nullable(),
  negative_prompt: z.string().nullable(),
  num_inference_steps: z.int().nullable(),
  guidance_scale: z.number().nullable(),
  seed: z.int().nullable(),
});
export type GenerationSettings = z.infer<typeof GenerationSettings>;

export const ImageMeta = z.object({
  mime_type: z.enum(['image/png', 'image/jpeg', 'image/webp']),
  size_bytes: z.int(),
  width: z.int(),
  height: z.int(),
});
export type ImageMeta = z.infer<typeof ImageMeta>;
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
  image: z.url(),
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
  image: ImageMeta.nullable(),
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

/** A single generation: the summary plus `image_url`, a data URL once completed (as the seed promised). */
export const Generation = GenerationSummary.extend({
  image_url: z
    .string()
    .regex(/^data:image\/(?:png|jpeg|webp);base64,[A-Za-z0-9+/]*={0,2}$/)
    .meta({
      description: 'Once completed, the image itself as a base64 data URL (`data:image/png;base64,…`); else null.',
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

import { z } from 'zod';
import { parseDuration } from './durations';
import { OPENAI_MODELS, RequestedProvider } from './providers';
import { STYLE_NAMES } from './styles';
import { StoredText } from './text';
import { WebhookEvents, WebhookUrl } from './webhook-request';

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

/** The most images one generation may ask for (`num_images`). */
export const MAX_IMAGES = 4;

/** How many images a generation makes: 1 to MAX_IMAGES. */
export const ImageCount = z.int().min(1).max(MAX_IMAGES);

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
    prompt: StoredText().trim().min(1, 'must not be empty').max(2000),
    negative_prompt: StoredText().trim().max(2000).optional(),
    width: Dimension.default(512),
    height: Dimension.default(512),
    num_inference_steps: z.int().min(1).max(150).optional(),
    guidance_scale: z.number().min(0).max(50).optional(),
    seed: z.int().min(0).max(4_294_967_295).optional(),
    /** Images drawn from the one prompt; with a seed, image i is drawn with seed + i where the provider takes one request per image. */
    num_images: ImageCount.default(1),
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

/**
 * What the model is asked for; stored on the record and sent to Hugging Face as `parameters`.
 * Records written before `num_images` existed have none: read them with `imagesAsked`.
 */
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
  num_images: ImageCount,
});
export type GenerationSettings = z.infer<typeof GenerationSettings>;

/** How many images `settings` ask for; records written before `num_images` existed asked for one. */
export const imagesAsked = (settings: Partial<Pick<GenerationSettings, 'num_images'>>): number =>
  settings.num_images ?? 1;

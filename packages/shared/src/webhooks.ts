import { z } from 'zod';
import { GenerationSummary } from './generation';

/** The `type` of a webhook message. */
export const WebhookType = z.enum([
  'generation.started',
  'generation.completed',
  'generation.failed',
  'generation.canceled',
]);
export type WebhookType = z.infer<typeof WebhookType>;

/**
 * `data` of a webhook: the generation without its image bytes, which would make every delivery
 * megabytes long; `image_url` is the absolute URL of `GET /api/generations/:id/image` instead.
 */
export const WebhookGeneration = GenerationSummary.extend({ image_url: z.url().nullable() });
export type WebhookGeneration = z.infer<typeof WebhookGeneration>;

/** The JSON body of every delivery (Standard Webhooks' `{type, timestamp, data}`). */
export const WebhookPayload = z.object({
  type: WebhookType,
  timestamp: z.iso.datetime(),
  data: WebhookGeneration,
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;

/**
 * The `webhook-id` of the message of one event of one run of a generation. Derived rather than
 * random, so a job that runs twice (BullMQ delivers at least once) makes the same message, not a
 * second one; a retried generation's later runs (`run` > 1) make messages of their own.
 */
export function webhookMessageId(generationId: string, type: WebhookType, run = 1): string {
  const id = `msg_${generationId}_${type.slice('generation.'.length)}`;
  return run > 1 ? `${id}_${run}` : id;
}

/** How long a rotated-out secret keeps signing deliveries, so receivers can switch without a gap. */
export const WEBHOOK_SECRET_OVERLAP_MS = 24 * 3600 * 1000;

/** `GET /api/webhooks/secret` and `POST /api/webhooks/secret/rotate`. */
export const WebhookSecretView = z.object({
  secret: z.string().startsWith('whsec_'),
  created_at: z.iso.datetime(),
  /** Until then, deliveries carry a second signature made with the previous secret. */
  previous_secret_expires_at: z.iso.datetime().nullable(),
});
export type WebhookSecretView = z.infer<typeof WebhookSecretView>;

/** `pending` until the first attempt; `retrying` while the schedule runs; `stopped` after a 410. */
export const WebhookMessageState = z.enum(['pending', 'delivered', 'retrying', 'failed', 'stopped']);
export type WebhookMessageState = z.infer<typeof WebhookMessageState>;

export const WebhookAttemptOutcome = z.enum(['delivered', 'retrying', 'failed', 'stopped']);
export type WebhookAttemptOutcome = z.infer<typeof WebhookAttemptOutcome>;

export const WebhookTrigger = z.enum(['scheduled', 'redeliver']);
export type WebhookTrigger = z.infer<typeof WebhookTrigger>;

export const WebhookMessageView = z.object({
  id: z.string(),
  type: WebhookType,
  url: z.string(),
  state: WebhookMessageState,
  attempts: z.int(),
  next_attempt_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
});
export type WebhookMessageView = z.infer<typeof WebhookMessageView>;

export const WebhookAttemptView = z.object({
  id: z.string(),
  message_id: z.string(),
  type: WebhookType,
  trigger: WebhookTrigger,
  url: z.string(),
  attempted_at: z.iso.datetime(),
  /** The receiver's HTTP status, or null when there was none (refused, timed out, reset). */
  status_code: z.int().nullable(),
  error: z.string().nullable(),
  duration_ms: z.int(),
  outcome: WebhookAttemptOutcome,
  next_retry_at: z.iso.datetime().nullable(),
});
export type WebhookAttemptView = z.infer<typeof WebhookAttemptView>;

/** `GET /api/generations/:id/webhook-deliveries`: messages and their attempts, newest first. */
export const WebhookDeliveries = z.object({
  messages: z.array(WebhookMessageView),
  attempts: z.array(WebhookAttemptView),
});
export type WebhookDeliveries = z.infer<typeof WebhookDeliveries>;

/** `POST /api/generations/:id/webhook-deliveries/redeliver`: the message queued to be sent again. */
export const WebhookRedelivery = z.object({ message_id: z.string() });
export type WebhookRedelivery = z.infer<typeof WebhookRedelivery>;

import type { GenerationDocument } from './db';
import { imagesAsked, type GenerationSummary, type GenerationUrls, type ImageMeta } from '@imagegen/shared';

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** The absolute URLs of a generation's routes under `baseUrl` (PUBLIC_BASE_URL). */
export function generationUrls(baseUrl: string, id: string): GenerationUrls {
  const get = `${baseUrl}/api/generations/${id}`;
  return { get, cancel: `${get}/cancel`, events: `${get}/events`, image: `${get}/image`, image_expires_at: null };
}

/** A stored generation as clients see it (lists, webhooks): everything but the image bytes. */
export function toSummary(doc: GenerationDocument, baseUrl: string): GenerationSummary {
  const id = doc._id.toHexString();
  const urls = generationUrls(baseUrl, id);
  return {
    id,
    user_id: doc.user_id.toHexString(),
    prompt: doc.prompt,
    status: doc.status,
    // Records written before `provider` existed have neither field.
    settings: { ...doc.settings, provider: doc.settings.provider ?? null, num_images: imagesAsked(doc.settings) },
    provider: doc.provider ?? null,
    image: doc.image,
    images: imagesOf(doc).map((meta, index) => ({ ...meta, index, url: `${urls.get}/images/${index}` })),
    image_expired: doc.image_expired ?? false,
    error: doc.error,
    cancel_reason: doc.cancel_reason,
    deadline_at: iso(doc.deadline_at),
    attempts: doc.attempts,
    history: doc.history.map((run) => ({
      status: run.status,
      error: run.error,
      started_at: iso(run.started_at),
      ended_at: iso(run.ended_at),
      retried_at: run.retried_at.toISOString(),
    })),
    webhook_url: doc.webhook?.url ?? null,
    webhook_events: doc.webhook?.events ?? [],
    created_at: doc.created_at.toISOString(),
    started_at: iso(doc.started_at),
    completed_at: iso(doc.completed_at),
    urls,
  };
}

/** The images of a completed record; one written before there were several has only `image`. */
export function imagesOf(doc: Pick<GenerationDocument, 'image' | 'images'>): ImageMeta[] {
  return doc.images ?? (doc.image ? [doc.image] : []);
}

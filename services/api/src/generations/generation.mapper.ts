import type { Generation, GenerationDocument, GenerationSummary, ImageDocument } from '@imagegen/shared';

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function toSummary(doc: GenerationDocument): GenerationSummary {
  return {
    id: doc._id.toHexString(),
    user_id: doc.user_id.toHexString(),
    prompt: doc.prompt,
    status: doc.status,
    settings: doc.settings,
    image: doc.image,
    error: doc.error,
    attempts: doc.attempts,
    created_at: doc.created_at.toISOString(),
    started_at: iso(doc.started_at),
    completed_at: iso(doc.completed_at),
  };
}

/** The full record; `image_url` is a data URL whose MIME type is the one sniffed from the stored bytes. */
export function toGeneration(doc: GenerationDocument, image: ImageDocument | null): Generation {
  const imageUrl = image ? `data:${image.mime_type};base64,${Buffer.from(image.data.buffer).toString('base64')}` : null;
  return { ...toSummary(doc), image_url: imageUrl };
}

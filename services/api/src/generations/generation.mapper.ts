import {
  toSummary,
  type Generation,
  type GenerationDocument,
  type GenerationPage,
  type ImageDocument,
} from '@imagegen/shared';

/** The full record; `image_url` is a data URL whose MIME type is the one sniffed from the stored bytes. */
export function toGeneration(doc: GenerationDocument, image: ImageDocument | null): Generation {
  const imageUrl = image ? `data:${image.mime_type};base64,${Buffer.from(image.data.buffer).toString('base64')}` : null;
  return { ...toSummary(doc), image_url: imageUrl };
}

/** A page of `limit` from `docs`, fetched with one extra so that a next page is known to exist. */
export function pageOf(docs: GenerationDocument[], limit: number): GenerationPage {
  const items = docs.slice(0, limit).map(toSummary);
  const last = items.at(-1);
  return { items, next_cursor: docs.length > limit && last ? last.id : null };
}

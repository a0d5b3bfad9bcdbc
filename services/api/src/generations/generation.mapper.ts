import { toSummary, type Generation, type GenerationDocument, type ImageDocument } from '@imagegen/shared';

/** The full record; `image_url` is a data URL whose MIME type is the one sniffed from the stored bytes. */
export function toGeneration(doc: GenerationDocument, image: ImageDocument | null): Generation {
  const imageUrl = image ? `data:${image.mime_type};base64,${Buffer.from(image.data.buffer).toString('base64')}` : null;
  return { ...toSummary(doc), image_url: imageUrl };
}

import {
  type Generation,
  type GenerationPage,
  type GenerationSummary,
  NOT_QUEUED,
  type QueuePlace,
  type StreamedGeneration,
} from '@imagegen/shared';
import { toSummary, type GenerationDocument, type ImageDocument } from '@imagegen/core';

/** Maps stored records to what clients see, with their URLs under PUBLIC_BASE_URL. */
export class GenerationMapper {
  constructor(private readonly baseUrl: string) {}

  summary(doc: GenerationDocument): GenerationSummary {
    return toSummary(doc, this.baseUrl);
  }

  /** As a stream event carries it: without the history of earlier runs. */
  streamed(doc: GenerationDocument): StreamedGeneration {
    const { history: _history, ...streamed } = this.summary(doc);
    return streamed;
  }

  /** The full record; `image_url` is a data URL whose MIME type is the one sniffed from the stored bytes. */
  full(doc: GenerationDocument, image: ImageDocument | null, place: QueuePlace = NOT_QUEUED): Generation {
    const imageUrl = image
      ? `data:${image.mime_type};base64,${Buffer.from(image.data.buffer).toString('base64')}`
      : null;
    return {
      ...this.summary(doc),
      image_url: imageUrl,
      ...place,
    };
  }

  /** A page of `limit` from `docs`, fetched with one extra so that a next page is known to exist. */
  page(docs: GenerationDocument[], limit: number): GenerationPage {
    const items = docs.slice(0, limit).map((doc) => this.summary(doc));
    const last = items.at(-1);
    return { items, next_cursor: docs.length > limit && last ? last.id : null };
  }
}

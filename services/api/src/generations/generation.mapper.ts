import {
  type Generation,
  type GenerationPage,
  type GenerationSummary,
  NOT_QUEUED,
  type QueuePlace,
  type StreamedGeneration,
} from '@imagegen/shared';
import { toSummary, type GenerationDocument } from '@imagegen/core';
import type { ImageLinks } from './image-links';

/** Maps stored records to what clients see, with their URLs under PUBLIC_BASE_URL (or on the bucket). */
export class GenerationMapper {
  constructor(
    private readonly baseUrl: string,
    private readonly links: ImageLinks,
  ) {}

  summary(doc: GenerationDocument): GenerationSummary {
    return toSummary(doc, this.baseUrl);
  }

  /**
   * As a stream event carries it: without the history of earlier runs, and with the API's image
   * URL, as an event may be replayed after a presigned URL would have expired.
   */
  streamed(doc: GenerationDocument): StreamedGeneration {
    const { history: _history, ...streamed } = this.summary(doc);
    return streamed;
  }

  /** As a response names it: its image URL presigned when IMAGE_URLS=presigned. */
  linked(doc: GenerationDocument): Promise<GenerationSummary> {
    return this.links.apply(this.summary(doc), doc);
  }

  /**
   * The full record; `image_url` is a data URL of `image`, the stored bytes, whose MIME type is
   * the one sniffed from them when they were stored.
   */
  async full(doc: GenerationDocument, image: Buffer | null, place: QueuePlace = NOT_QUEUED): Promise<Generation> {
    const imageUrl = image && doc.image ? `data:${doc.image.mime_type};base64,${image.toString('base64')}` : null;
    return { ...(await this.linked(doc)), image_url: imageUrl, ...place };
  }

  /** A page of `limit` from `docs`, fetched with one extra so that a next page is known to exist. */
  async page(docs: GenerationDocument[], limit: number): Promise<GenerationPage> {
    const shown = docs.slice(0, limit);
    const items = await Promise.all(shown.map((doc) => this.linked(doc)));
    const last = items.at(-1);
    return { items, next_cursor: docs.length > limit && last ? last.id : null };
  }
}

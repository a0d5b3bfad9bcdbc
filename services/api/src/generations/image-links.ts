import type { GenerationSummary } from '@imagegen/shared';
import type { GenerationDocument, ImageStore } from '@imagegen/core';

/**
 * Where clients fetch images. With IMAGE_URLS=presigned, `urls.image` and each `images[].url` of a
 * completed generation are presigned URLs on the bucket, so the bytes go from the bucket to the
 * client and never through the API; otherwise, or where none can be signed, the API's own routes.
 * Thumbnails and conversions (`?width=`, `?format=`) are always the API's: it makes them.
 */
export class ImageLinks {
  constructor(
    private readonly images: ImageStore,
    private readonly presigned: boolean,
    private readonly ttlMs: number,
  ) {}

  async apply<T extends GenerationSummary>(summary: T, doc: GenerationDocument): Promise<T> {
    const { presign } = this.images;
    if (!this.presigned || !presign || doc.status !== 'completed' || doc.image_expired) return summary;
    const signed = await Promise.all(
      summary.images.map(({ index }) => presign.call(this.images, doc._id, this.ttlMs, { index })),
    );
    // Each is signed alone: while images migrate between stores, some may be signable and others not.
    const first = signed[0];
    return {
      ...summary,
      images: summary.images.map((image, i) => (signed[i] ? { ...image, url: signed[i].url } : image)),
      urls: first
        ? { ...summary.urls, image: first.url, image_expires_at: first.expiresAt.toISOString() }
        : summary.urls,
    };
  }
}

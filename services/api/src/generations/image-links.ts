import type { GenerationSummary } from '@imagegen/shared';
import type { GenerationDocument, ImageStore } from '@imagegen/core';

/**
 * Where clients fetch an image. With IMAGE_URLS=presigned, `urls.image` of a completed generation
 * is a presigned URL on the bucket, so the bytes go from the bucket to the client and never
 * through the API; otherwise, or where none can be signed, the API's own `/image` route.
 */
export class ImageLinks {
  constructor(
    private readonly images: ImageStore,
    private readonly presigned: boolean,
    private readonly ttlMs: number,
  ) {}

  async apply<T extends GenerationSummary>(summary: T, doc: GenerationDocument): Promise<T> {
    if (!this.presigned || !this.images.presign || doc.status !== 'completed' || doc.image_expired) return summary;
    const signed = await this.images.presign(doc._id, this.ttlMs);
    if (!signed) return summary;
    return {
      ...summary,
      urls: { ...summary.urls, image: signed.url, image_expires_at: signed.expiresAt.toISOString() },
    };
  }
}

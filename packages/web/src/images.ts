import type { ImagegenClient } from '@imagegen/client';

/**
 * Object URLs of generations' images, fetched once each: `<img src>` cannot send the bearer token
 * that `/api/generations/:id/image` needs, so the bytes come through the client.
 */
export class ImageCache {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly client: ImagegenClient) {}

  url(id: string): Promise<string> {
    let url = this.urls.get(id);
    if (!url) {
      url = this.client
        .getImage(id)
        .then(({ bytes, mimeType }) => URL.createObjectURL(new Blob([bytes as BlobPart], { type: mimeType })));
      // A failed fetch is tried again next time rather than remembered.
      url.catch(() => this.urls.delete(id));
      this.urls.set(id, url);
    }
    return url;
  }

  /** Lets go of one image, whose generation is gone. */
  forget(id: string): void {
    const url = this.urls.get(id);
    this.urls.delete(id);
    void url?.then(
      (u) => URL.revokeObjectURL(u),
      () => undefined,
    );
  }

  clear(): void {
    for (const url of this.urls.values())
      void url.then(
        (u) => URL.revokeObjectURL(u),
        () => undefined,
      );
    this.urls.clear();
  }
}

import type { ImagegenClient } from '@imagegen/client';
import { THUMBNAIL_WIDTHS, type ThumbnailWidth } from '@imagegen/shared';

/** Which image of a generation, full size or as a thumbnail `width` pixels wide. */
export interface ImageVariant {
  /** 0 is the first. */
  index: number;
  width?: ThumbnailWidth;
}

/**
 * The thumbnail for a box `cssPixels` wide on this screen: what `srcset` would pick, chosen here
 * because the bytes come through the client (see ImageCache). Up to a quarter smaller than the box
 * is taken, as a card does not show the difference and the next width costs about four times the bytes.
 */
export function thumbnailWidth(cssPixels: number, pixelRatio = window.devicePixelRatio || 1): ThumbnailWidth {
  const needed = cssPixels * pixelRatio;
  return THUMBNAIL_WIDTHS.find((width) => width * 1.25 >= needed) ?? 512;
}

/**
 * Object URLs of generations' images, fetched once each (per image and width): `<img src>` cannot
 * send the bearer token that `/api/generations/:id/image` needs, so the bytes come through the client.
 */
export class ImageCache {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly client: ImagegenClient) {}

  url(id: string, variant: ImageVariant = { index: 0 }): Promise<string> {
    const key = `${id}/${variant.index}/${variant.width ?? 'full'}`;
    let url = this.urls.get(key);
    if (!url) {
      url = this.client
        // The first image through `/image`, which every record has, also those from before several images.
        .getImage(id, {
          ...(variant.index > 0 && { index: variant.index }),
          ...(variant.width && { width: variant.width }),
        })
        .then(({ bytes, mimeType }) => URL.createObjectURL(new Blob([bytes as BlobPart], { type: mimeType })));
      // A failed fetch is tried again next time rather than remembered.
      url.catch(() => this.urls.delete(key));
      this.urls.set(key, url);
    }
    return url;
  }

  /** Lets go of one generation's images, as it is gone. */
  forget(id: string): void {
    for (const [key, url] of this.urls) {
      if (!key.startsWith(`${id}/`)) continue;
      this.urls.delete(key);
      revoke(url);
    }
  }

  clear(): void {
    for (const url of this.urls.values()) revoke(url);
    this.urls.clear();
  }
}

function revoke(url: Promise<string>): void {
  void url.then(
    (u) => URL.revokeObjectURL(u),
    () => undefined,
  );
}

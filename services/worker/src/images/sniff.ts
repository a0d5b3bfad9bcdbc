import { imageSize } from 'image-size';
import type { ImageMimeType } from '@imagegen/shared';

export interface SniffedImage {
  bytes: Buffer;
  mime_type: ImageMimeType;
  width: number;
  height: number;
}

const MIME_BY_TYPE: Record<string, ImageMimeType> = { png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' };

/**
 * Reads type and dimensions from the bytes themselves: Hugging Face often answers JPEG whatever
 * was asked, and a 200 can carry an HTML page. Returns null when the bytes are not a PNG, JPEG or WebP.
 */
export function sniffImage(bytes: Buffer): SniffedImage | null {
  try {
    const { type, width, height } = imageSize(bytes);
    const mime = type ? MIME_BY_TYPE[type] : undefined;
    return mime && width && height ? { bytes, mime_type: mime, width, height } : null;
  } catch {
    return null;
  }
}

import { imageSize } from 'image-size';
import type { ImageMimeType } from '@imagegen/shared';

export interface SniffedImage {
  bytes: Buffer;
  mime_type: ImageMimeType;
  width: number;
  height: number;
}

const MIME_BY_TYPE: Record<string, ImageMimeType> = { png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' };

/** A PNG's last chunk: IEND, empty, with its fixed CRC. */
const PNG_END = Buffer.from('0000000049454e44ae426082', 'hex');
/** A JPEG's End Of Image marker. */
const JPEG_END = Buffer.from('ffd9', 'hex');

/**
 * True when the file runs to its format's end. The header alone gives type and size, so an answer
 * cut short (by a proxy, or a reset the length did not reveal) would otherwise pass for an image.
 */
function isWhole(mime: ImageMimeType, bytes: Buffer): boolean {
  if (mime === 'image/png') return bytes.subarray(-PNG_END.length).equals(PNG_END);
  // Some encoders pad after the marker.
  if (mime === 'image/jpeg') return bytes.subarray(-32).includes(JPEG_END);
  // RIFF: the size after the first 8 bytes, which an odd size pads by one.
  const riffSize = bytes.readUInt32LE(4) + 8;
  return bytes.length === riffSize || bytes.length === riffSize + 1;
}

/** What a body's bytes are: a whole image, the start of one (cut short), or no image at all. */
export type Sniffed =
  { kind: 'image'; image: SniffedImage } | { kind: 'truncated'; mime_type: ImageMimeType } | { kind: 'not-image' };

/**
 * Reads type and dimensions from the bytes themselves: Hugging Face often answers JPEG whatever
 * was asked, and a 200 can carry an HTML page. Only PNG, JPEG and WebP count as images.
 */
export function sniff(bytes: Buffer): Sniffed {
  try {
    const { type, width, height } = imageSize(bytes);
    const mime = type ? MIME_BY_TYPE[type] : undefined;
    if (!mime || !width || !height) return { kind: 'not-image' };
    if (!isWhole(mime, bytes)) return { kind: 'truncated', mime_type: mime };
    return { kind: 'image', image: { bytes, mime_type: mime, width, height } };
  } catch {
    return { kind: 'not-image' };
  }
}

/** The whole image in `bytes`, or null when they are not one. */
export function sniffImage(bytes: Buffer): SniffedImage | null {
  const sniffed = sniff(bytes);
  return sniffed.kind === 'image' ? sniffed.image : null;
}

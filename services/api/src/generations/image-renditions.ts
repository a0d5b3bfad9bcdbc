import type { ObjectId } from 'mongodb';
import sharp from 'sharp';
import { IMAGE_FORMATS, type ImageFormat, type ImageMeta, type ThumbnailWidth } from '@imagegen/shared';
import { partSuffix, type ImagePart, type ImageStore } from '@imagegen/core';
import { NotFoundError } from '../errors';
import type { ImageQuery } from './image-query';

// libvips keeps recent operations in memory (up to 50 MB) to answer a repeat: a thumbnail is made
// once and then read from the image store, so that memory would only add to the API's footprint.
sharp.cache(false);

/** Something made from an image on request: a thumbnail, or the image in another format. */
export interface Rendition {
  /** Its part name in the image store (`w256.webp`), and the tail of its ETag. */
  name: string;
  width?: ThumbnailWidth;
  format: ImageFormat;
  /**
   * Thumbnails are kept in the image store from their first request on: they are small, and every
   * gallery screen asks for them. A full-size conversion is made anew each time: it is as large as
   * the original, and only the odd client that needs one format asks for it.
   */
  stored: boolean;
}

/** One image of a generation as a request asks for it: the bytes the provider sent, or a rendition of them. */
export interface ServedImage {
  id: ObjectId;
  owner: ObjectId;
  /** 0 is the first image. */
  index: number;
  /** The image as the provider sent it. */
  original: ImageMeta;
  /** What is made of it; null to answer with the original bytes. */
  rendition: Rendition | null;
}

/**
 * What `query` asks to be made of an image of type `original`; null when the original bytes answer
 * it as they are (no width, and no format or the image's own). A thumbnail is WebP unless `format`
 * names another.
 */
export function renditionFor(original: ImageMeta, { width, format }: ImageQuery): Rendition | null {
  if (width === undefined) {
    return format === undefined || IMAGE_FORMATS[format] === original.mime_type
      ? null
      : { name: format, format, stored: false };
  }
  const as = format ?? 'webp';
  return { name: `w${width}.${as}`, width, format: as, stored: true };
}

/**
 * The image's strong validator: the name of its stored file (the generation id alone for the first
 * image, as before there were several). A conversion made anew each time gets a weak one: another
 * sharp version may encode the same picture in other bytes.
 */
export function etagOf({ id, index, rendition }: ServedImage): string {
  const tag = `"${id.toHexString()}${partSuffix({ index, ...(rendition && { rendition: rendition.name }) })}"`;
  return rendition && !rendition.stored ? `W/${tag}` : tag;
}

export const mimeTypeOf = ({ original, rendition }: ServedImage) =>
  rendition ? IMAGE_FORMATS[rendition.format] : original.mime_type;

/** Makes `rendition` of an image's bytes. Widths are never enlarged: a narrower image keeps its own. */
export async function render(original: Uint8Array, rendition: Rendition): Promise<{ bytes: Buffer; meta: ImageMeta }> {
  // As a browser shows the original: oriented by its EXIF (the rendition carries none), and drawn
  // as far as it decodes rather than refused for a flaw a browser overlooks.
  let image = sharp(original, { failOn: 'none' }).autoOrient();
  if (rendition.width) image = image.resize({ width: rendition.width, withoutEnlargement: true });
  // JPEG has no alpha: transparent pixels become white, as on a page, rather than black.
  if (rendition.format === 'jpeg') image = image.flatten({ background: '#ffffff' });
  const { data, info } = await image.toFormat(rendition.format).toBuffer({ resolveWithObject: true });
  const meta = {
    mime_type: IMAGE_FORMATS[rendition.format],
    size_bytes: data.length,
    width: info.width,
    height: info.height,
  };
  return { bytes: data, meta };
}

/**
 * The bytes of the served image's rendition: a stored one as it is (no sharp), else made from the
 * original and, if it is one to keep, stored. Requests that miss at the same time each make it and
 * store the same bytes. 404 when the original is gone (deleted, or expired, meanwhile).
 */
export async function renditionBytes(
  images: ImageStore,
  served: ServedImage & { rendition: Rendition },
): Promise<Buffer> {
  const { id, index, rendition } = served;
  const part: ImagePart = { index, rendition: rendition.name };
  if (rendition.stored) {
    const kept = await images.read(id, part);
    if (kept) return kept;
  }
  const original = await images.read(id, { index });
  if (!original) throw new NotFoundError('No image: it was deleted');
  const made = await render(original, rendition);
  if (rendition.stored) await keep(images, served, part, made);
  return made.bytes;
}

async function keep(
  images: ImageStore,
  { id, owner, index }: ServedImage,
  part: ImagePart,
  made: { bytes: Buffer; meta: ImageMeta },
): Promise<void> {
  try {
    await images.put(id, { owner, ...made }, part);
  } catch (err) {
    // A concurrent request storing the same part first may make this write fail (a duplicate key on
    // an upsert race): the part is there all the same.
    if (!(await images.has(id, part))) throw err;
  }
  // Deleted or expired while this was made: the part goes too, or nothing would ever remove it.
  if (!(await images.has(id, { index }))) await images.delete(id);
}

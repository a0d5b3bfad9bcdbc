import type { Readable } from 'node:stream';
import type { ObjectId } from 'mongodb';
import type { ImageMeta, ImageStoreKind } from '@imagegen/shared';

/** A generation's image as the worker hands it to a store. */
export interface ImageToStore {
  owner: ObjectId;
  bytes: Uint8Array;
  meta: ImageMeta;
}

/** A byte range, both ends included, as an HTTP `Range` header names it. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Stored bytes, or a range of them, as a stream. */
export interface ImageBody {
  stream: Readable;
  /** How many bytes the stream gives. */
  length: number;
}

/** One stored image, as a walk over the store lists it. */
export interface StoredImage {
  id: ObjectId;
  storedAt: Date;
}

/**
 * Which of a generation's stored files: its image `index` (0 is the first), or a `rendition` of
 * that image made on request (a thumbnail, another format), kept so it is made only once.
 */
export interface ImagePart {
  index: number;
  /** Letters, digits and dots only, e.g. `w256.webp`; none for the image as the provider sent it. */
  rendition?: string;
}

/** The first image as the provider sent it: the one part every completed generation has. */
export const FIRST_IMAGE: ImagePart = { index: 0 };

const RENDITION = /^[a-z0-9.]+$/;

/**
 * What follows the generation's id in the name of `part`'s stored file: nothing for the first image,
 * which was the only one before generations had several, so images stored then are found as they are.
 */
export function partSuffix({ index, rendition }: ImagePart): string {
  if (!Number.isInteger(index) || index < 0) throw new Error(`image index ${index} is not a whole number ≥ 0`);
  if (rendition !== undefined && !RENDITION.test(rendition)) throw new Error(`rendition "${rendition}" is not a name`);
  return index === 0 && rendition === undefined ? '' : `.${index}${rendition === undefined ? '' : `.${rendition}`}`;
}

export interface PresignedUrl {
  url: string;
  expiresAt: Date;
}

/**
 * Where image bytes are kept: a generation's images and their renditions (its parts), under the
 * generation's id. The generation record holds the metadata (type, size, dimensions); a store holds
 * bytes and when they were written. Every method is safe to call again: writing twice overwrites,
 * deleting twice is a no-op. A part left out is the first image.
 */
export interface ImageStore {
  readonly kind: ImageStoreKind;
  /** For the start-up log line: which store, and where. */
  readonly description: string;
  /** Writes `part` of generation `id`, replacing any there. */
  put(id: ObjectId, image: ImageToStore, part?: ImagePart): Promise<void>;
  /**
   * Writes `part` only where nothing is stored under its key, in one write that no concurrent writer
   * of the key can also win: true when this call wrote it, false when nothing was written. False
   * means the key was taken, or (S3) the server does not honour the condition; the caller then
   * checks what it must and uses `put`. Only stores that can make that write whole have it:
   * MongoDB, by its unique `_id`; S3, by `If-None-Match: *`.
   */
  add?(id: ObjectId, image: ImageToStore, part?: ImagePart): Promise<boolean>;
  /** The whole part, or null when none is stored. */
  read(id: ObjectId, part?: ImagePart): Promise<Buffer | null>;
  /** The bytes, or only `range` of them, as a stream; null when none is stored. */
  open(id: ObjectId, range?: ByteRange, part?: ImagePart): Promise<ImageBody | null>;
  has(id: ObjectId, part?: ImagePart): Promise<boolean>;
  /** Removes every part of the generation; nothing happens when none is stored. */
  delete(id: ObjectId): Promise<void>;
  /**
   * Up to `limit` generations whose first image is stored and whose id comes after `after` (from
   * the first when null), in id order. Sweeps and migrations walk the whole store with it, a page
   * at a time. A generation's first image is written before its other parts, so a generation with
   * any part stored is listed (and `delete` takes all its parts).
   */
  list(after: ObjectId | null, limit: number): Promise<StoredImage[]>;
  /**
   * A URL that GETs the image without credentials until it expires; only stores that can sign one.
   * Null when this image cannot be reached that way (still in the previous store of a migration).
   */
  presign?(id: ObjectId, ttlMs: number, part?: ImagePart): Promise<PresignedUrl | null>;
  close(): Promise<void>;
}

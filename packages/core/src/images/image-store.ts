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

export interface PresignedUrl {
  url: string;
  expiresAt: Date;
}

/**
 * Where image bytes are kept, one image per generation under the generation's id. The generation
 * record holds the metadata (type, size, dimensions); a store holds bytes and when they were
 * written. Every method is safe to call again: writing twice overwrites, deleting twice is a no-op.
 */
export interface ImageStore {
  readonly kind: ImageStoreKind;
  /** For the start-up log line: which store, and where. */
  readonly description: string;
  /** Writes the image of generation `id`, replacing any there. */
  put(id: ObjectId, image: ImageToStore): Promise<void>;
  /** The whole image, or null when none is stored. */
  read(id: ObjectId): Promise<Buffer | null>;
  /** The bytes, or only `range` of them, as a stream; null when none is stored. */
  open(id: ObjectId, range?: ByteRange): Promise<ImageBody | null>;
  has(id: ObjectId): Promise<boolean>;
  /** Removes the image; nothing happens when none is stored. */
  delete(id: ObjectId): Promise<void>;
  /**
   * Up to `limit` stored images whose id comes after `after` (from the first when null), in id
   * order. Sweeps and migrations walk the whole store with it, a page at a time.
   */
  list(after: ObjectId | null, limit: number): Promise<StoredImage[]>;
  /**
   * A URL that GETs the image without credentials until it expires; only stores that can sign one.
   * Null when this image cannot be reached that way (still in the previous store of a migration).
   */
  presign?(id: ObjectId, ttlMs: number): Promise<PresignedUrl | null>;
  close(): Promise<void>;
}

import { Readable } from 'node:stream';
import { Binary, type Db, type ObjectId } from 'mongodb';
import { COLLECTIONS, type ImageDocument, type ImagePartDocument } from '../db';
import {
  FIRST_IMAGE,
  partSuffix,
  type ByteRange,
  type ImageBody,
  type ImagePart,
  type ImageStore,
  type ImageToStore,
  type StoredImage,
} from './image-store';

/**
 * Images in MongoDB, the default, which needs nothing but the database the services use already:
 * a generation's first image in `images` under the generation's id, as every image was before
 * generations had several, and its other parts (more images, renditions) in `image_parts` under
 * the id and the part's suffix. Every read is by `_id`, which every MongoDB-wire server serves from
 * its primary key (FerretDB scans for any other filter); only `delete` goes by `generation_id`.
 */
export class MongoImageStore implements ImageStore {
  readonly kind = 'mongodb';
  readonly description = 'MongoDB (the images and image_parts collections)';
  private readonly images;
  private readonly parts;

  constructor(db: Db) {
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
    this.parts = db.collection<ImagePartDocument>(COLLECTIONS.imageParts);
  }

  async put(id: ObjectId, { owner, bytes, meta }: ImageToStore, part: ImagePart = FIRST_IMAGE): Promise<void> {
    const fields = { ...meta, user_id: owner, data: new Binary(bytes), created_at: new Date() };
    const suffix = partSuffix(part);
    if (!suffix) {
      await this.images.replaceOne({ _id: id }, fields, { upsert: true });
      return;
    }
    const _id = `${id.toHexString()}${suffix}`;
    await this.parts.replaceOne({ _id }, { generation_id: id, ...fields }, { upsert: true });
  }

  async read(id: ObjectId, part: ImagePart = FIRST_IMAGE): Promise<Buffer | null> {
    const suffix = partSuffix(part);
    const found = suffix
      ? await this.parts.findOne({ _id: `${id.toHexString()}${suffix}` }, { projection: { data: 1 } })
      : await this.images.findOne({ _id: id }, { projection: { data: 1 } });
    return found ? Buffer.from(found.data.buffer) : null;
  }

  async open(id: ObjectId, range?: ByteRange, part?: ImagePart): Promise<ImageBody | null> {
    const bytes = await this.read(id, part);
    if (!bytes) return null;
    const piece = range ? bytes.subarray(range.start, range.end + 1) : bytes;
    return { stream: Readable.from([piece]), length: piece.length };
  }

  async has(id: ObjectId, part: ImagePart = FIRST_IMAGE): Promise<boolean> {
    const suffix = partSuffix(part);
    const found = suffix
      ? await this.parts.findOne({ _id: `${id.toHexString()}${suffix}` }, { projection: { _id: 1 } })
      : await this.images.findOne({ _id: id }, { projection: { _id: 1 } });
    return found !== null;
  }

  /** The other parts go first: while the first image remains, a sweep still finds the generation. */
  async delete(id: ObjectId): Promise<void> {
    await this.parts.deleteMany({ generation_id: id });
    await this.images.deleteOne({ _id: id });
  }

  async list(after: ObjectId | null, limit: number): Promise<StoredImage[]> {
    const images = await this.images
      .find(after ? { _id: { $gt: after } } : {}, { projection: { _id: 1, created_at: 1 } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
    return images.map((image) => ({ id: image._id, storedAt: image.created_at }));
  }

  async close(): Promise<void> {}
}

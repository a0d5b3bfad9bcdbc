import { Readable } from 'node:stream';
import { Binary, type Db, type ObjectId } from 'mongodb';
import { COLLECTIONS, isDuplicateKey, type ImageDocument, type ImagePartDocument } from '../db';
import { InsertBatches } from '../insert-batches';
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
  /** New images, and parts: those added in one turn go to the server together (InsertBatches; large ones alone). */
  private readonly imageInserts;
  private readonly partInserts;

  constructor(db: Db) {
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
    this.parts = db.collection<ImagePartDocument>(COLLECTIONS.imageParts);
    this.imageInserts = new InsertBatches(this.images);
    this.partInserts = new InsertBatches(this.parts);
  }

  /**
   * Inserted, and replaced only when the key is taken already: an image stored by another delivery
   * of the job, or by a run the worker retried. An upsert would do both in one command, but FerretDB
   * reads before it writes one, and a new image is the common case: 1,000 writes of a 12 KB image,
   * 20 at a time, took 3.1 to 3.5 s of the machine's CPU as upserts and 2.1 as inserts.
   */
  async put(id: ObjectId, image: ImageToStore, part: ImagePart = FIRST_IMAGE): Promise<void> {
    if (await this.add(id, image, part)) return;
    const suffix = partSuffix(part);
    // An upsert, should the image be deleted between the insert that failed and this.
    if (!suffix) await this.images.replaceOne({ _id: id }, fieldsOf(image), { upsert: true });
    else
      await this.parts.replaceOne(
        { _id: partKey(id, suffix) },
        { generation_id: id, ...fieldsOf(image) },
        { upsert: true },
      );
  }

  /** An insert, which the unique `_id` lets only one writer of a key win. */
  async add(id: ObjectId, image: ImageToStore, part: ImagePart = FIRST_IMAGE): Promise<boolean> {
    const suffix = partSuffix(part);
    try {
      if (!suffix) await this.imageInserts.insert({ _id: id, ...fieldsOf(image) });
      else await this.partInserts.insert({ _id: partKey(id, suffix), generation_id: id, ...fieldsOf(image) });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async read(id: ObjectId, part: ImagePart = FIRST_IMAGE): Promise<Buffer | null> {
    const suffix = partSuffix(part);
    const found = suffix
      ? await this.parts.findOne({ _id: partKey(id, suffix) }, { projection: { data: 1 } })
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
      ? await this.parts.findOne({ _id: partKey(id, suffix) }, { projection: { _id: 1 } })
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

/** What an image's document holds besides its key. */
function fieldsOf({ owner, bytes, meta }: ImageToStore) {
  return { ...meta, user_id: owner, data: new Binary(bytes), created_at: new Date() };
}

/** The `_id` of a part other than the first image: the generation's id and the part's suffix. */
function partKey(id: ObjectId, suffix: string): string {
  return `${id.toHexString()}${suffix}`;
}

import { Readable } from 'node:stream';
import { Binary, type Db, type ObjectId } from 'mongodb';
import { COLLECTIONS, type ImageDocument } from '../db';
import type { ByteRange, ImageBody, ImageStore, ImageToStore, StoredImage } from './image-store';

/**
 * Images in MongoDB's `images` collection, one document per generation under its id: the default,
 * which needs nothing but the database the services use already. Every read is by `_id`, which
 * every MongoDB-wire server serves from its primary key (FerretDB scans for any other filter).
 */
export class MongoImageStore implements ImageStore {
  readonly kind = 'mongodb';
  readonly description = 'MongoDB (the images collection)';
  private readonly images;

  constructor(db: Db) {
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
  }

  async put(id: ObjectId, { owner, bytes, meta }: ImageToStore): Promise<void> {
    const document: ImageDocument = {
      _id: id,
      ...meta,
      user_id: owner,
      data: new Binary(bytes),
      created_at: new Date(),
    };
    await this.images.replaceOne({ _id: id }, document, { upsert: true });
  }

  async read(id: ObjectId): Promise<Buffer | null> {
    const image = await this.images.findOne({ _id: id }, { projection: { data: 1 } });
    return image ? Buffer.from(image.data.buffer) : null;
  }

  async open(id: ObjectId, range?: ByteRange): Promise<ImageBody | null> {
    const bytes = await this.read(id);
    if (!bytes) return null;
    const part = range ? bytes.subarray(range.start, range.end + 1) : bytes;
    return { stream: Readable.from([part]), length: part.length };
  }

  async has(id: ObjectId): Promise<boolean> {
    return (await this.images.findOne({ _id: id }, { projection: { _id: 1 } })) !== null;
  }

  async delete(id: ObjectId): Promise<void> {
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

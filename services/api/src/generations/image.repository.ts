import type { Db, ObjectId } from 'mongodb';
import { COLLECTIONS, type ImageDocument } from '@imagegen/shared';

export class ImageRepository {
  private readonly images;

  constructor(db: Db) {
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
  }

  findOwned(generationId: ObjectId, userId: ObjectId): Promise<ImageDocument | null> {
    return this.images.findOne({ _id: generationId, user_id: userId });
  }
}

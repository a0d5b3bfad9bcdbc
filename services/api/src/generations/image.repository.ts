import type { Db, ObjectId } from 'mongodb';
import { COLLECTIONS, type ImageDocument } from '@imagegen/core';

export class ImageRepository {
  private readonly images;

  constructor(db: Db) {
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
  }

  /**
   * Looked up by `_id` alone and the owner checked here: a primary-key lookup is served from the
   * index by every MongoDB-wire server, while FerretDB reads every image for any other filter.
   */
  async findOwned(generationId: ObjectId, userId: ObjectId): Promise<ImageDocument | null> {
    const image = await this.images.findOne({ _id: generationId });
    return image?.user_id.equals(userId) ? image : null;
  }
}

import type { Db, Filter, ObjectId } from 'mongodb';
import {
  COLLECTIONS,
  newGeneration,
  type GenerationDocument,
  type GenerationSettings,
  type GenerationWebhook,
  type GenerationStatus,
} from '@imagegen/shared';

export interface PageRequest {
  limit: number;
  before?: ObjectId;
  status?: GenerationStatus;
}

export class GenerationRepository {
  private readonly generations;

  constructor(db: Db) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  async insertPending(
    userId: ObjectId,
    prompt: string,
    settings: GenerationSettings,
    webhook: GenerationWebhook | null,
  ): Promise<GenerationDocument> {
    const doc = newGeneration(userId, prompt, settings, webhook);
    await this.generations.insertOne(doc);
    return doc;
  }

  /** Removes a record that never reached the queue, so a failed create leaves nothing behind. */
  async deletePending(id: ObjectId): Promise<void> {
    await this.generations.deleteOne({ _id: id, status: 'pending' });
  }

  /** Scoped to the owner: another user's id is indistinguishable from an unknown one. */
  findOwned(id: ObjectId, userId: ObjectId): Promise<GenerationDocument | null> {
    return this.generations.findOne({ _id: id, user_id: userId });
  }

  /** Newest first, keyset-paginated on `_id` (ObjectIds grow with time), served by the user indexes. */
  listOwned(userId: ObjectId, page: PageRequest): Promise<GenerationDocument[]> {
    const filter: Filter<GenerationDocument> = { user_id: userId };
    if (page.status) filter.status = page.status;
    if (page.before) filter._id = { $lt: page.before };
    return this.generations.find(filter).sort({ _id: -1 }).limit(page.limit).toArray();
  }
}

import type { Db, Filter, ObjectId } from 'mongodb';
import type { GenerationStatus } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument } from '@imagegen/core';

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

  async insert(doc: GenerationDocument): Promise<void> {
    await this.generations.insertOne(doc);
  }

  /** Removes a record that never reached the queue, so a failed create leaves nothing behind. */
  async deletePending(id: ObjectId): Promise<void> {
    await this.generations.deleteOne({ _id: id, status: 'pending' });
  }

  /** The status of each of `ids` that has a record, by hex id. */
  async statusesOf(ids: ObjectId[]): Promise<Map<string, GenerationStatus>> {
    if (ids.length === 0) return new Map();
    const docs = await this.generations.find({ _id: { $in: ids } }, { projection: { status: 1 } }).toArray();
    return new Map(docs.map((doc) => [doc._id.toHexString(), doc.status]));
  }

  findById(id: ObjectId): Promise<GenerationDocument | null> {
    return this.generations.findOne({ _id: id });
  }

  /**
   * An ended generation → pending for another run, with a fresh deadline, the ended run kept in
   * `history`; null if the generation was no longer as `ended` says (another retry came first).
   */
  reopen(ended: GenerationDocument, at: Date): Promise<GenerationDocument | null> {
    const deadline = ended.cancel_after_ms ? new Date(at.getTime() + ended.cancel_after_ms) : null;
    return this.generations.findOneAndUpdate(
      { _id: ended._id, status: ended.status, updated_at: ended.updated_at },
      {
        $inc: { run: 1 },
        $set: {
          status: 'pending',
          error: null,
          cancel_reason: null,
          deadline_at: deadline,
          started_at: null,
          completed_at: null,
          updated_at: at,
        },
        $push: {
          history: {
            status: ended.status,
            error: ended.error,
            started_at: ended.started_at,
            ended_at: ended.completed_at,
            retried_at: at,
          },
        },
      },
      { returnDocument: 'after' },
    );
  }

  /** Undoes `reopen` when the job could not be queued, so the record does not wait for nothing. */
  /**
   * Undoes `reopen` when the run could not be queued, keeping the run counter it moved on to: a
   * job of that run that lands late finds no run of its number, and the next retry takes a new one.
   */
  async restore(ended: GenerationDocument, reopened: GenerationDocument): Promise<void> {
    await this.generations.replaceOne(
      { _id: ended._id, status: 'pending', updated_at: reopened.updated_at },
      { ...ended, run: reopened.run },
    );
  }

  /** Every user's generations, newest first (admins). */
  listAll(page: PageRequest & { userId?: ObjectId }): Promise<GenerationDocument[]> {
    const filter: Filter<GenerationDocument> = {};
    if (page.userId) filter.user_id = page.userId;
    if (page.status) filter.status = page.status;
    if (page.before) filter._id = { $lt: page.before };
    return this.generations.find(filter).sort({ _id: -1 }).limit(page.limit).toArray();
  }

  /** Scoped to the owner: another user's id is indistinguishable from an unknown one. */
  /** By `_id` alone, the owner checked here (see ImageRepository.findOwned). */
  async findOwned(id: ObjectId, userId: ObjectId): Promise<GenerationDocument | null> {
    const doc = await this.generations.findOne({ _id: id });
    return doc?.user_id.equals(userId) ? doc : null;
  }

  /** Newest first, keyset-paginated on `_id` (ObjectIds grow with time), served by the user indexes. */
  listOwned(userId: ObjectId, page: PageRequest): Promise<GenerationDocument[]> {
    const filter: Filter<GenerationDocument> = { user_id: userId };
    if (page.status) filter.status = page.status;
    if (page.before) filter._id = { $lt: page.before };
    return this.generations.find(filter).sort({ _id: -1 }).limit(page.limit).toArray();
  }
}

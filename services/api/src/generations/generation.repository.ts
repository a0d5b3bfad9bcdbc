import type { Db, Filter, ObjectId } from 'mongodb';
import type { GenerationStatus, MongoReadPreference } from '@imagegen/shared';
import { COLLECTIONS, InsertBatches, type GenerationDocument } from '@imagegen/core';

export interface PageRequest {
  limit: number;
  before?: ObjectId;
  status?: GenerationStatus;
}

/** The API's reads of generations, and its insert of new ones; their status changes are GenerationStore's. */
export class GenerationRepository {
  private readonly generations;
  /**
   * The same collection for the list reads, at MONGODB_READ_PREFERENCE: a page may then come from
   * a secondary a little behind, which a list can afford (a client follows a generation through
   * its own record, and the playground puts what it creates on top without listing again). Every
   * other read stays on the primary: a record just written must be read as written.
   */
  private readonly listings;
  /** New records: the creates of one turn of the event loop write theirs together (InsertBatches). */
  private readonly inserts;

  constructor(db: Db, listReadPreference: MongoReadPreference = 'primary') {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.listings = db.collection<GenerationDocument>(COLLECTIONS.generations, { readPreference: listReadPreference });
    this.inserts = new InsertBatches(this.generations);
  }

  insert(doc: GenerationDocument): Promise<void> {
    return this.inserts.insert(doc);
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

  /** Every user's generations, newest first (admins). */
  listAll(page: PageRequest & { userId?: ObjectId }): Promise<GenerationDocument[]> {
    const filter: Filter<GenerationDocument> = {};
    if (page.userId) filter.user_id = page.userId;
    if (page.status) filter.status = page.status;
    if (page.before) filter._id = { $lt: page.before };
    return this.listings.find(filter).sort({ _id: -1 }).limit(page.limit).toArray();
  }

  /**
   * Scoped to the owner: another user's id is indistinguishable from an unknown one. Found by `_id`
   * alone, the owner checked here (see ImageRepository.findOwned).
   */
  async findOwned(id: ObjectId, userId: ObjectId): Promise<GenerationDocument | null> {
    const doc = await this.generations.findOne({ _id: id });
    return doc?.user_id.equals(userId) ? doc : null;
  }

  /** Newest first, keyset-paginated on `_id` (ObjectIds grow with time), served by the user indexes. */
  listOwned(userId: ObjectId, page: PageRequest): Promise<GenerationDocument[]> {
    const filter: Filter<GenerationDocument> = { user_id: userId };
    if (page.status) filter.status = page.status;
    if (page.before) filter._id = { $lt: page.before };
    return this.listings.find(filter).sort({ _id: -1 }).limit(page.limit).toArray();
  }
}

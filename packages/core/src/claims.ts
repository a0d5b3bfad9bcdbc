import type { Collection, Db, Document } from 'mongodb';
import { COLLECTIONS, isDuplicateKey, type ClaimDocument } from './db';

/**
 * Keys that exactly one writer can take, on any MongoDB-wire server.
 *
 * MongoDB makes each single-document write atomic, so of many concurrent conditional updates
 * (`updateOne({_id, status: 'pending'}, …)`) exactly one matches. Not every server that speaks its
 * protocol does: FerretDB 1.x reads the document, checks the filter in its own code and writes the
 * whole document back in a separate statement, so eight writers that read it alike all "win"
 * (measured: two racers both won in 96 rounds of 100). What every such server does hold is a
 * unique index: of concurrent inserts of one `_id`, one succeeds and the others fail with a
 * duplicate key. A claim is that insert, into a collection of its own.
 */
export class Claims {
  private readonly claims: Collection<ClaimDocument>;

  constructor(db: Db) {
    this.claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
  }

  /** True when this call took `key`; false when another writer had. `data` is kept with the claim. */
  async take(key: string, data: Document = {}): Promise<boolean> {
    try {
      await this.claims.insertOne({ _id: key, at: new Date(), data });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  find(key: string): Promise<ClaimDocument | null> {
    return this.claims.findOne({ _id: key });
  }
}

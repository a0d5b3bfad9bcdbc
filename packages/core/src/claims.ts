import type { Collection, Db, Document } from 'mongodb';
import { COLLECTIONS, isDuplicateKey, type ClaimDocument } from './db';
import { InsertBatches } from './insert-batches';

/** How old a claim whose write has not been made must be before another writer makes it. */
export const ABANDONED_CLAIM_MS = 30_000;

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
 *
 * The claim keeps what its writer is about to write. If that writer dies between the claim and
 * the write, the next writer that meets the claim once it is `ABANDONED_CLAIM_MS` old makes the
 * write for it: a live writer makes it within a round trip of its claim, unless MongoDB goes away
 * in between. The retention sweep removes claims a day old.
 *
 * A writer cut off that way (MongoDB gone after its claim reached the server and before its write
 * did, or before the insert's answer came back) tries again once MongoDB is back and meets its own
 * claim. When it names itself (`by`), it knows the claim for its own: it makes the claimed write
 * at once, rather than waiting for the claim to be abandoned and, meanwhile, taking itself for a
 * loser (the worker would then drop the run's images and leave its record processing).
 */
export class Claims {
  private readonly claims: Collection<ClaimDocument>;
  /** The claims taken in one turn go to the server together (InsertBatches); each is still won or lost alone. */
  private readonly inserts: InsertBatches<ClaimDocument>;

  constructor(db: Db) {
    this.claims = db.collection<ClaimDocument>(COLLECTIONS.claims);
    this.inserts = new InsertBatches(this.claims);
  }

  /**
   * The one write of `key`: made with `data` when this call takes the key, with the claim's own
   * data when the key's writer abandoned it, and not at all while that writer may still make it.
   * `write` must change the document only if it is still as the claimer found it (a revision, a
   * current value), so a second finisher, or a late claimer, writes nothing. True when this call
   * took the key and `write` said it applied. With `secret`, the claim forgets its data once written.
   *
   * `by` names the writer: the same on each of its tries of one change, and no other writer's
   * (nor its own for another change). A claim it took on an earlier try is its own: `write` is
   * called with that claim's data, and the answer is true when it applied, or when `landed` says
   * the claimed write is in place already (made by the earlier try, or by a writer that found the
   * claim abandoned meanwhile).
   */
  async write<T extends Document>(
    key: string,
    data: T,
    write: (data: T) => Promise<boolean>,
    { secret = false, by, landed }: { secret?: boolean; by?: string; landed?: () => Promise<boolean> } = {},
  ): Promise<boolean> {
    if (await this.take(key, data, by)) {
      const made = await write(data);
      if (secret) await this.forget(key);
      return made;
    }
    const claim = await this.find(key);
    if (claim && by !== undefined && claim.by === by) {
      return (await write(claim.data as T)) || ((await landed?.()) ?? false);
    }
    if (claim && Date.now() - claim.at.getTime() >= ABANDONED_CLAIM_MS) {
      await write(claim.data as T);
      if (secret) await this.forget(key);
    }
    return false;
  }

  /** True when this call took `key`; false when another writer had. `data` is kept with the claim. */
  async take(key: string, data: Document = {}, by?: string): Promise<boolean> {
    try {
      await this.inserts.insert({ _id: key, at: new Date(), data, ...(by !== undefined && { by }) });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  find(key: string): Promise<ClaimDocument | null> {
    return this.claims.findOne({ _id: key });
  }

  /**
   * Data that holds a secret is not kept once written, though the key is: a key taken again would
   * let a second writer's data pass for the first's.
   */
  private async forget(key: string): Promise<void> {
    await this.claims.updateOne({ _id: key }, { $set: { data: {} } });
  }
}

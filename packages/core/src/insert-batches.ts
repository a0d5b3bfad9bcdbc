import { MongoBulkWriteError, type Collection, type Document, type OptionalUnlessRequiredId } from 'mongodb';

interface Waiting<T> {
  doc: OptionalUnlessRequiredId<T>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Inserts into one collection, those asked for in one turn of the event loop sent together as one
 * unordered `insertMany` at the end of the turn: under load, the creates whose admissions came back
 * in one read from Redis write their records in one command rather than one each. The server then
 * parses, checks and commits one command (FerretDB: one PostgreSQL transaction and one multi-row
 * INSERT), and each process on the way is woken once for all of them.
 *
 * Each caller learns the fate of its own document, as from `insertOne`. Unordered, the server
 * tries every document of the batch; one it refuses (a duplicate `_id`, say) is inserted again
 * alone, so that its caller gets the error `insertOne` gives and the others are unaffected. An
 * error of the whole command (the server away, a write concern not met) is every caller's, as
 * each one's `insertOne` would have met it.
 */
export class InsertBatches<T extends Document> {
  private waiting: Waiting<T>[] = [];

  constructor(private readonly collection: Collection<T>) {}

  insert(doc: OptionalUnlessRequiredId<T>): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => void this.send());
      this.waiting.push({ doc, resolve, reject });
    });
  }

  private async send(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 1) return this.alone(batch[0]!);
    try {
      await this.collection.insertMany(
        batch.map((waiting) => waiting.doc),
        { ordered: false },
      );
      for (const waiting of batch) waiting.resolve();
    } catch (err) {
      const refused = refusedIndexes(err);
      if (!refused) {
        for (const waiting of batch) waiting.reject(err);
        return;
      }
      await Promise.all(batch.map((waiting, index) => (refused.has(index) ? this.alone(waiting) : waiting.resolve())));
    }
  }

  private async alone({ doc, resolve, reject }: Waiting<T>): Promise<void> {
    try {
      await this.collection.insertOne(doc);
      resolve();
    } catch (err) {
      reject(err);
    }
  }
}

/**
 * The documents the server refused one by one, by their index in the batch; null when the error is
 * the whole command's (nothing says which documents were written) or a write concern's.
 */
function refusedIndexes(err: unknown): Set<number> | null {
  if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError()) return null;
  const refused = err.result.getWriteErrors();
  return refused.length > 0 ? new Set(refused.map((writeError) => writeError.index)) : null;
}

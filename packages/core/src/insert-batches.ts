import { BSON, MongoBulkWriteError, type Collection, type Document, type OptionalUnlessRequiredId } from 'mongodb';

interface Waiting<T> {
  doc: OptionalUnlessRequiredId<T>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Documents in one command at most: the driver's own split point when a server does not say (MongoDB says 100,000). */
const MAX_DOCUMENTS = 1_000;
/**
 * Bytes of documents in one command at most: half of the 16 MiB past which the driver would split
 * an `insertMany` into several commands itself. Its commands would then fail apart, and its error
 * would not say which documents were written (it stops at the first command that fails as a whole,
 * with the earlier ones' refusals only).
 */
const MAX_BYTES = 8 * 1024 * 1024;

/**
 * Inserts into one collection, those asked for in one turn of the event loop sent together at the
 * end of the turn, as an unordered `insertMany`: under load, the creates whose admissions came back
 * in one read from Redis write their records in one command rather than one each. The server then
 * parses, checks and commits one command (FerretDB: one PostgreSQL transaction and one multi-row
 * INSERT), and each process on the way is woken once for all of them. A turn's inserts past 1,000
 * documents or 8 MiB go as several commands, each on its own; an insert alone in its turn, or too
 * large to share a command, goes as `insertOne`.
 *
 * Each caller learns the fate of its own document, as from `insertOne`. Unordered, the server
 * tries every document of a command; one it refuses (a duplicate `_id`, say) is inserted again
 * alone, so that its caller gets the error `insertOne` gives and the others are unaffected. When
 * a command fails as a whole (the server away), every caller of it gets the driver's own error, as
 * its `insertOne` would have: a network or server selection error, which tells an outage.
 */
export class InsertBatches<T extends Document> {
  private waiting: Waiting<T>[] = [];

  constructor(private readonly collection: Collection<T>) {}

  insert(doc: OptionalUnlessRequiredId<T>): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => this.send());
      this.waiting.push({ doc, resolve, reject });
    });
  }

  private send(): void {
    const turn = this.waiting;
    this.waiting = [];
    for (const command of commandsOf(turn)) void this.sendCommand(command);
  }

  /** Settles every caller of the command; never throws. */
  private async sendCommand(command: Waiting<T>[]): Promise<void> {
    if (command.length === 1) return this.alone(command[0]!);
    try {
      await this.collection.insertMany(
        command.map((waiting) => waiting.doc),
        { ordered: false },
      );
      for (const waiting of command) waiting.resolve();
    } catch (err) {
      const refused = refusedIndexes(err, command.length);
      if (!refused) {
        const cause = commandError(err);
        for (const waiting of command) waiting.reject(cause);
        return;
      }
      await Promise.all(
        command.map((waiting, index) => (refused.has(index) ? this.alone(waiting) : waiting.resolve())),
      );
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

/** A turn's inserts cut into commands of at most MAX_DOCUMENTS and MAX_BYTES; a larger document alone. */
function commandsOf<T>(turn: Waiting<T>[]): Waiting<T>[][] {
  if (turn.length === 1) return [turn];
  const commands: Waiting<T>[][] = [];
  let command: Waiting<T>[] = [];
  let bytes = 0;
  for (const waiting of turn) {
    const size = BSON.calculateObjectSize(waiting.doc);
    if (command.length > 0 && (command.length === MAX_DOCUMENTS || bytes + size > MAX_BYTES)) {
      commands.push(command);
      command = [];
      bytes = 0;
    }
    command.push(waiting);
    bytes += size;
  }
  commands.push(command);
  return commands;
}

/**
 * The documents the server refused one by one, by their index in the command; every other one was
 * inserted. Null when that is not known: the command failed as a whole (the driver's error then
 * holds the cause as `errorResponse`), a write concern was not met, or what was refused and what
 * was inserted do not add up to the command.
 */
function refusedIndexes(err: unknown, count: number): Set<number> | null {
  if (!(err instanceof MongoBulkWriteError) || err.errorResponse instanceof Error) return null;
  if (err.result.getWriteConcernError()) return null;
  const refused = new Set(err.result.getWriteErrors().map((writeError) => writeError.index));
  return refused.size > 0 && refused.size + err.result.insertedCount === count ? refused : null;
}

/** What `insertOne` would have thrown for the command's failure: the driver's cause, not its wrapper. */
function commandError(err: unknown): unknown {
  return err instanceof MongoBulkWriteError && err.errorResponse instanceof Error ? err.errorResponse : err;
}

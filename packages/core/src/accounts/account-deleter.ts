import type { Db, ObjectId } from 'mongodb';
import {
  COLLECTIONS,
  type GenerationDocument,
  type IdempotencyKeyDocument,
  type UsageDocument,
  type UserDocument,
} from '../db';
import type { GenerationDeleter } from '../generations/generation-deleter';

/** Generations deleted per batch unless told otherwise. */
const DEFAULT_BATCH = 100;

export interface AccountDeletionOptions {
  /** Checked between batches: once aborted, the deletion stops there, with the account still marked. */
  signal?: AbortSignal;
  batchSize?: number;
}

/**
 * Deletes an account and everything it owns. The account is marked first, which closes it at once
 * (sign-in finds no such email, every token stops); its generations go next, a batch at a time, then
 * its idempotency keys and usage records, and the user record last. A deletion cut short (the process stopped) leaves
 * the mark, by which `resumeInterrupted` finds the account and finishes it.
 */
export class AccountDeleter {
  private readonly users;
  private readonly generations;
  private readonly idempotencyKeys;
  private readonly usage;

  constructor(
    db: Db,
    private readonly generationDeleter: GenerationDeleter,
  ) {
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.idempotencyKeys = db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys);
    this.usage = db.collection<UsageDocument>(COLLECTIONS.usage);
  }

  async delete(userId: ObjectId, { signal, batchSize = DEFAULT_BATCH }: AccountDeletionOptions = {}): Promise<void> {
    await this.mark(userId);
    for (;;) {
      signal?.throwIfAborted();
      // Newest first on the user_newest index; each batch deleted, the next query starts again at
      // the top, so a generation created meanwhile (a token checked just before the mark) goes too.
      const batch = await this.generations.find({ user_id: userId }).sort({ _id: -1 }).limit(batchSize).toArray();
      if (batch.length === 0) break;
      await this.generationDeleter.deleteMany(batch);
    }
    signal?.throwIfAborted();
    await this.idempotencyKeys.deleteMany({ user_id: userId });
    await this.usage.deleteMany({ user_id: userId });
    await this.users.deleteOne({ _id: userId });
  }

  /**
   * Finishes deletions marked before `olderThan` (long enough ago that no process is still at
   * them), at most `limit` of them, oldest first; returns how many it finished. One that fails is
   * left for the next call, after the others have had their turn.
   */
  async resumeInterrupted(olderThan: Date, limit: number, signal?: AbortSignal): Promise<number> {
    const marked = await this.users
      .find({ deleted_at: { $lt: olderThan } }, { projection: { _id: 1 } })
      .sort({ deleted_at: 1 })
      .limit(limit)
      .toArray();
    const failures: unknown[] = [];
    let finished = 0;
    for (const user of marked) {
      signal?.throwIfAborted();
      try {
        await this.delete(user._id, signal ? { signal } : {});
        finished++;
      } catch (err) {
        if (signal?.aborted) throw err;
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `${failures.length} of ${marked.length} interrupted account deletions failed`);
    }
    return finished;
  }

  /**
   * Closes the account, once: the email is replaced, so a sign-in with it finds no account (as for
   * one never made) and the address is free for a new one; every token issued so far stops.
   */
  private async mark(userId: ObjectId): Promise<void> {
    const now = new Date();
    await this.users.updateOne(
      { _id: userId, deleted_at: { $exists: false } },
      { $set: { deleted_at: now, tokens_valid_after: now, email: deletedEmail(userId) } },
    );
  }
}

/** Not an email address: registration refuses it, so it can never be signed in with or taken. */
function deletedEmail(userId: ObjectId): string {
  return `deleted:${userId.toHexString()}`;
}

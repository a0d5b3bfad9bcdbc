import type { Redis } from 'ioredis';
import type { Db, Filter, ObjectId } from 'mongodb';
import { COLLECTIONS, type GenerationDocument } from './db';
import type { CancelReason } from './generation';
import type { GenerationLifecycle } from './generation-lifecycle';
import { cancelChannel } from './queues';

/** What the canceller needs of the generations queue: BullMQ's `Queue.remove` fits. */
export interface RemovableJobs {
  remove(jobId: string): Promise<unknown>;
}

const MESSAGES: Record<CancelReason, string> = {
  user: 'Canceled by its owner',
  deadline: 'Canceled: not done by its cancel_after deadline',
};

/**
 * Cancels a generation still in flight, for its owner (API) or its deadline (worker): the record
 * becomes `canceled` first, so a late answer from Hugging Face can no longer complete it; then the
 * worker running it is told to abort, a job still waiting is dropped, and the change is announced.
 */
export class GenerationCanceller {
  private readonly generations;

  constructor(
    db: Db,
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    private readonly jobs: RemovableJobs,
    private readonly lifecycle: GenerationLifecycle,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  /** The canceled record, or null when it had already ended (or no longer matched `where`). */
  async cancel(
    id: ObjectId,
    reason: CancelReason,
    where: Filter<GenerationDocument> = {},
  ): Promise<GenerationDocument | null> {
    const now = new Date();
    const canceled = await this.generations.findOneAndUpdate(
      { ...where, _id: id, status: { $in: ['pending', 'processing'] } },
      {
        $set: {
          status: 'canceled',
          cancel_reason: reason,
          error: MESSAGES[reason],
          completed_at: now,
          updated_at: now,
        },
      },
      { returnDocument: 'after' },
    );
    if (!canceled) return null;
    const generationId = id.toHexString();
    await this.redis.publish(cancelChannel(this.queuePrefix), generationId);
    // A job that a worker holds cannot be removed; the abort above ends it instead.
    await this.jobs.remove(generationId).catch(() => undefined);
    await this.lifecycle.ended(canceled);
    return canceled;
  }
}

import type { Collection, Db, Filter, ObjectId, UpdateFilter } from 'mongodb';
import type { CancelReason, ImageMeta, ServingProvider } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument } from '../db';

/** What a completed run leaves on its record. */
export interface RunResult {
  image: ImageMeta;
  provider: ServingProvider;
}

const CANCEL_MESSAGES: Record<CancelReason, string> = {
  user: 'Canceled by its owner',
  deadline: 'Canceled: not done by its cancel_after deadline',
};

const IN_FLIGHT = { $in: ['pending' as const, 'processing' as const] };

/**
 * Every change of a generation's `status`, for the API and the worker alike. Each write filters on
 * the record, run and status it expects, so a job delivered twice (BullMQ is at-least-once) can
 * neither complete twice nor overwrite a newer state, and a job of an earlier run cannot touch the
 * run a retry started. A write that finds the record no longer as it expects answers null.
 */
export class GenerationStore {
  private readonly generations: Collection<GenerationDocument>;

  constructor(db: Db) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  /** pending (or processing, when a stalled job is redelivered) → processing; null if there is nothing to do. */
  start(id: ObjectId, run: number): Promise<GenerationDocument | null> {
    const now = new Date();
    return this.transition(
      { _id: id, run, status: IN_FLIGHT },
      { $set: { status: 'processing', started_at: now, updated_at: now }, $inc: { attempts: 1 } },
    );
  }

  /**
   * Back to `pending` for its run to be queued again, if the record is still as the reconciler saw
   * it; null when it changed meanwhile (its job moved it, or it was canceled or retried).
   */
  requeue(seen: GenerationDocument): Promise<GenerationDocument | null> {
    return this.transition(
      { _id: seen._id, run: seen.run, status: seen.status, updated_at: seen.updated_at },
      { $set: { status: 'pending', updated_at: new Date() } },
    );
  }

  /** Whether `generation`'s run still holds its record, i.e. may still complete it. */
  async holds(generation: GenerationDocument): Promise<boolean> {
    return (await this.generations.countDocuments(this.held(generation))) > 0;
  }

  /** processing → completed with the run's image; null when the run no longer holds the record. */
  complete(generation: GenerationDocument, result: RunResult, at: Date): Promise<GenerationDocument | null> {
    return this.transition(this.held(generation), {
      $set: {
        status: 'completed',
        image: result.image,
        provider: result.provider,
        error: null,
        completed_at: at,
        updated_at: at,
      },
    });
  }

  /** Fails a run still in flight and returns the record; null when it had already ended. */
  fail(id: ObjectId, run: number, error: string): Promise<GenerationDocument | null> {
    const now = new Date();
    return this.transition(
      { _id: id, run, status: IN_FLIGHT },
      { $set: { status: 'failed', error, completed_at: now, updated_at: now } },
    );
  }

  /** processing → pending, when a stopping worker hands the job back to the queue. */
  release(id: ObjectId, run: number): Promise<GenerationDocument | null> {
    return this.transition(
      { _id: id, run, status: 'processing' },
      { $set: { status: 'pending', updated_at: new Date() } },
    );
  }

  /** pending or processing → canceled; null when it had already ended (or no longer matched `where`). */
  cancel(
    id: ObjectId,
    reason: CancelReason,
    where: Filter<GenerationDocument> = {},
  ): Promise<GenerationDocument | null> {
    const now = new Date();
    return this.transition(
      { ...where, _id: id, status: IN_FLIGHT },
      {
        $set: {
          status: 'canceled',
          cancel_reason: reason,
          error: CANCEL_MESSAGES[reason],
          completed_at: now,
          updated_at: now,
        },
      },
    );
  }

  /** The record if it is canceled already (and matches `where`), so a cut-short cancel can be finished. */
  findCanceled(id: ObjectId, where: Filter<GenerationDocument> = {}): Promise<GenerationDocument | null> {
    return this.generations.findOne({ ...where, _id: id, status: 'canceled' });
  }

  /**
   * An ended generation → pending for another run, with a fresh deadline, the ended run kept in
   * `history`; null if the generation was no longer as `ended` says (another retry came first).
   */
  reopen(ended: GenerationDocument, at: Date): Promise<GenerationDocument | null> {
    const deadline = ended.cancel_after_ms ? new Date(at.getTime() + ended.cancel_after_ms) : null;
    return this.transition(
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
    );
  }

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

  /** Removes a record that never reached the queue, so a failed create leaves nothing behind. */
  async deletePending(id: ObjectId): Promise<void> {
    await this.generations.deleteOne({ _id: id, status: 'pending' });
  }

  private held(generation: GenerationDocument): Filter<GenerationDocument> {
    return { _id: generation._id, run: generation.run, status: 'processing' };
  }

  private transition(
    filter: Filter<GenerationDocument>,
    update: UpdateFilter<GenerationDocument>,
  ): Promise<GenerationDocument | null> {
    return this.generations.findOneAndUpdate(filter, update, { returnDocument: 'after' });
  }
}

import type { Db, ObjectId } from 'mongodb';
import { COLLECTIONS, type GenerationDocument, type ImageStore, type Logger } from '@imagegen/core';
import { eachSettled, warnOf } from './each-settled';
import { before, type SweepTask } from './sweep-task';

/**
 * RETENTION_IMAGES_DAYS: deletes the image of a generation completed longer ago than the limit and
 * marks its record `image_expired`, which stays (the API answers 410 for its image). The image goes
 * first: a crash between the two leaves a record still claiming an image that is gone, which the
 * next pass finds again and marks; the other order could leave bytes that no pass looks for.
 */
export class ImageExpiry implements SweepTask {
  readonly kind = 'images';
  private readonly generations;

  constructor(
    db: Db,
    private readonly images: ImageStore,
    private readonly logger: Logger,
    private readonly afterMs: number,
    private readonly batch: number,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  async run(now: Date): Promise<number> {
    // Unsorted: all of them are due, and FerretDB stops reading at the limit only without a sort.
    const due = await this.generations
      .find(
        { status: 'completed', image_expired: { $ne: true }, completed_at: { $lt: before(now, this.afterMs) } },
        { projection: { _id: 1 } },
      )
      .limit(this.batch)
      .toArray();
    const removed = await eachSettled(
      due.map((doc) => doc._id),
      (id) => this.images.delete(id),
      warnOf(this.logger, 'could not delete an expired image'),
    );
    return this.mark(removed);
  }

  /**
   * One write for the batch, on records still completed; `updated_at` is left alone, as the
   * generation itself did not change. Only a deletion can move a completed record meanwhile. One
   * write rather than one per record: MongoDB serves it from the primary key, and FerretDB v1 on
   * SQLite, which scans the collection for any filter, finds the batch in one scan.
   */
  private async mark(ids: ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    const { modifiedCount } = await this.generations.updateMany(
      { _id: { $in: ids }, status: 'completed' },
      { $set: { image_expired: true } },
    );
    return modifiedCount;
  }
}

import { Binary, type Db, type ObjectId } from 'mongodb';
import type { ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, isDuplicateKey, type GenerationDocument, type ImageDocument } from '@imagegen/core';
import type { RenderedImage } from '../images/image-source';

/**
 * The worker's writes. Each transition filters on the run and status it expects, so a job
 * delivered twice (BullMQ is at-least-once) can neither complete twice nor overwrite a newer state,
 * and a job of an earlier run cannot touch the run a retry started.
 */
export class GenerationRepository {
  private readonly generations;
  private readonly images;

  constructor(db: Db) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
  }

  /** pending (or processing, when a stalled job is redelivered) → processing; null if there is nothing to do. */
  async start(id: ObjectId, run: number): Promise<GenerationDocument | null> {
    const now = new Date();
    return this.generations.findOneAndUpdate(
      { _id: id, run, status: { $in: ['pending', 'processing'] } },
      { $set: { status: 'processing', started_at: now, updated_at: now }, $inc: { attempts: 1 } },
      { returnDocument: 'after' },
    );
  }

  find(id: ObjectId): Promise<GenerationDocument | null> {
    return this.generations.findOne({ _id: id });
  }

  /** Runs in flight that have not changed since `before`, oldest first. */
  stale(before: Date, limit: number): Promise<GenerationDocument[]> {
    return this.generations
      .find({ status: { $in: ['pending', 'processing'] }, updated_at: { $lt: before } })
      .sort({ updated_at: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * Back to `pending` for its run to be queued again, if the record is still as the reconciler saw
   * it; null when it changed meanwhile (its job moved it, or it was canceled or retried).
   */
  requeue(seen: GenerationDocument): Promise<GenerationDocument | null> {
    return this.generations.findOneAndUpdate(
      { _id: seen._id, run: seen.run, status: seen.status, updated_at: seen.updated_at },
      { $set: { status: 'pending', updated_at: new Date() } },
      { returnDocument: 'after' },
    );
  }

  /**
   * Stores the image under the generation's id, then completes the record and returns it; null
   * when the run no longer holds it (canceled, failed, or completed by another delivery of the job).
   */
  async complete(generation: GenerationDocument, image: RenderedImage): Promise<GenerationDocument | null> {
    const meta: ImageMeta = {
      mime_type: image.mime_type,
      size_bytes: image.bytes.length,
      width: image.width,
      height: image.height,
    };
    const now = new Date();
    const stored: ImageDocument = {
      _id: generation._id,
      ...meta,
      user_id: generation.user_id,
      data: new Binary(image.bytes),
      created_at: now,
    };
    // An insert, which no MongoDB-wire server needs to read for. Bytes already there come from
    // another delivery of the job: they are replaced only while this run holds the record, so the
    // image of a generation another delivery completed is never swapped under its metadata.
    const inserted = await this.images.insertOne(stored).then(
      () => true,
      (err: unknown) => {
        if (!isDuplicateKey(err)) throw err;
        return false;
      },
    );
    if (!inserted) {
      const held = { _id: generation._id, run: generation.run, status: 'processing' as const };
      if (!(await this.generations.countDocuments(held))) return null;
      await this.images.replaceOne({ _id: generation._id }, stored);
    }
    const completed = await this.generations.findOneAndUpdate(
      { _id: generation._id, run: generation.run, status: 'processing' },
      {
        $set: {
          status: 'completed',
          image: meta,
          provider: image.provider,
          error: null,
          completed_at: now,
          updated_at: now,
        },
      },
      { returnDocument: 'after' },
    );
    if (!completed) {
      // Canceled (or failed) while Hugging Face answered: its image must not stay behind. A job run
      // twice finds its generation completed already, and that image stays.
      const now = await this.generations.findOne({ _id: generation._id }, { projection: { status: 1 } });
      if (now?.status !== 'completed') await this.images.deleteOne({ _id: generation._id });
    }
    return completed;
  }

  /** Fails a run still in flight and returns the record; null when it had already ended. */
  fail(id: ObjectId, run: number, error: string): Promise<GenerationDocument | null> {
    const now = new Date();
    return this.generations.findOneAndUpdate(
      { _id: id, run, status: { $in: ['pending', 'processing'] } },
      { $set: { status: 'failed', error, completed_at: now, updated_at: now } },
      { returnDocument: 'after' },
    );
  }

  /** processing → pending, when a stopping worker hands the job back to the queue. */
  release(id: ObjectId, run: number): Promise<GenerationDocument | null> {
    return this.generations.findOneAndUpdate(
      { _id: id, run, status: 'processing' },
      { $set: { status: 'pending', updated_at: new Date() } },
      { returnDocument: 'after' },
    );
  }
}

import { Binary, type Db, type ObjectId } from 'mongodb';
import type { ImageMeta } from '@imagegen/shared';
import {
  COLLECTIONS,
  isDuplicateKey,
  type GenerationDocument,
  type GenerationStore,
  type ImageDocument,
} from '@imagegen/core';
import type { RenderedImage } from '../images/image-source';

/**
 * The worker's reads of generations, and the image a run stores as it completes; the status
 * changes themselves are GenerationStore's.
 */
export class GenerationRepository {
  private readonly generations;
  private readonly images;

  constructor(
    db: Db,
    private readonly store: GenerationStore,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.images = db.collection<ImageDocument>(COLLECTIONS.images);
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
      if (!(await this.store.holds(generation))) return null;
      await this.images.replaceOne({ _id: generation._id }, stored);
    }
    const completed = await this.store.complete(generation, { image: meta, provider: image.provider }, now);
    if (!completed) {
      // Canceled (or failed) while Hugging Face answered: its image must not stay behind. A job run
      // twice finds its generation completed already, and that image stays.
      const now = await this.generations.findOne({ _id: generation._id }, { projection: { status: 1 } });
      if (now?.status !== 'completed') await this.images.deleteOne({ _id: generation._id });
    }
    return completed;
  }
}

import type { Db, ObjectId } from 'mongodb';
import type { ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument, type GenerationStore, type ImageStore } from '@imagegen/core';
import type { RenderedImage } from '../images/image-source';

/**
 * The worker's reads of generations, and the image a run stores as it completes; the status
 * changes themselves are GenerationStore's.
 */
export class GenerationRepository {
  private readonly generations;

  constructor(
    db: Db,
    private readonly store: GenerationStore,
    private readonly images: ImageStore,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
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
   * The image is written first: a crash between the two writes leaves at most an image without a
   * completed record, which the retention sweep removes, and never a completed record without its image.
   */
  async complete(generation: GenerationDocument, image: RenderedImage): Promise<GenerationDocument | null> {
    const meta: ImageMeta = {
      mime_type: image.mime_type,
      size_bytes: image.bytes.length,
      width: image.width,
      height: image.height,
    };
    // Bytes already there come from another delivery of the job: they are replaced only while this
    // run holds the record, so the image of a generation another delivery completed is never
    // swapped under its metadata.
    if (!(await this.store.holds(generation))) return null;
    await this.images.put(generation._id, { owner: generation.user_id, bytes: image.bytes, meta });
    const completed = await this.store.complete(generation, { image: meta, provider: image.provider }, new Date());
    if (!completed) {
      // Canceled (or failed, or deleted) while the image was written: it must not stay behind. A job
      // run twice finds its generation completed already, and that image stays.
      const now = await this.generations.findOne({ _id: generation._id }, { projection: { status: 1 } });
      if (now?.status !== 'completed') await this.images.delete(generation._id);
    }
    return completed;
  }
}

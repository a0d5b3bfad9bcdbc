import type { Db, ObjectId } from 'mongodb';
import type { ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument, type GenerationStore, type ImageStore } from '@imagegen/core';
import type { RenderedImages } from '../images/image-source';
import type { SniffedImage } from '../images/sniff';

/**
 * The worker's reads of generations, and the images a run stores as it completes; the status
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
   * Stores the run's images under the generation's id, then completes the record with their
   * metadata and returns it; null when the run no longer holds it (canceled, failed, or completed
   * by another delivery of the job). The images are written first: a crash between the writes
   * leaves at most images without a completed record, which the retention sweep removes, and never
   * a completed record without its images. The first image is written before the others, as the
   * sweep finds a generation's parts by its first image. `by` names the run that writes (see
   * `GenerationStore`), so that its next try finishes a completion an outage cut off.
   */
  async complete(
    generation: GenerationDocument,
    rendered: RenderedImages,
    by?: string,
  ): Promise<GenerationDocument | null> {
    const [first, ...others] = rendered.images;
    if (!first) throw new Error('a completed run has at least one image');
    const metas: [ImageMeta, ...ImageMeta[]] = [metaOf(first), ...others.map(metaOf)];
    const id = generation._id;
    // Bytes already there come from another delivery of the job: they are replaced only while this
    // run holds the record, so the images of a generation another delivery completed are never
    // swapped under its metadata. A store that can add an image only where none is (`add`) needs
    // that read of the record only when the add wrote nothing (the key was taken, or an S3 server
    // does not honour the condition): a new image replaces nothing. That is the common case, and it
    // saves a read on the way to `completed`.
    let holding: Promise<boolean> | undefined;
    const holds = () => (holding ??= this.store.holds(generation));
    const storeImage = async (image: SniffedImage, index: number): Promise<boolean> => {
      const toStore = { owner: generation.user_id, bytes: image.bytes, meta: metas[index]! };
      if (await this.images.add?.(id, toStore, { index })) return true;
      if (!(await holds())) return false;
      await this.images.put(id, toStore, { index });
      return true;
    };
    if (!(await storeImage(first, 0))) return null;
    // A part found taken once this run no longer holds the record: the run that holds it writes
    // every part again, over what this one added (which the sweep removes if that run fails).
    if ((await Promise.all(others.map((image, i) => storeImage(image, i + 1)))).includes(false)) return null;
    const completed = await this.store.complete(
      generation,
      { images: metas, provider: rendered.provider },
      new Date(),
      by,
    );
    if (!completed) {
      // Canceled or failed (or deleted) while the images were written: they must not stay behind. A
      // job run twice finds its generation completed already, and those images stay. So do they
      // while another run holds the record (a later delivery took it over, or a retry began): that
      // run writes every part over them, and could be writing them now.
      const now = await this.generations.findOne({ _id: id }, { projection: { status: 1 } });
      if (!now || now.status === 'canceled' || now.status === 'failed') await this.images.delete(id);
    }
    return completed;
  }
}

function metaOf(image: SniffedImage): ImageMeta {
  return { mime_type: image.mime_type, size_bytes: image.bytes.length, width: image.width, height: image.height };
}

import type { Db, ObjectId } from 'mongodb';
import {
  COLLECTIONS,
  imagesOf,
  type GenerationDocument,
  type ImagePart,
  type ImageStore,
  type StoredImage,
} from '@imagegen/core';

/** Images listed, then moved, per page: small enough that an interrupted run redoes little. */
const PAGE = 100;
/** Images moved at once within a page. */
const PARALLEL = 8;

export interface MigrationProgress {
  /** Moved to the target and removed from the source. */
  moved: number;
  /**
   * Left where they are: no completed record of the generation (an orphan, or a run that has not
   * completed), which the retention sweep removes in its own time.
   */
  skipped: number;
}

/**
 * Moves every image from `from` to `to`, a generation at a time: all its images are written to the
 * target, the first one first, then removed from the source (renditions, made again on request,
 * are dropped). Run while the services use `to` with `from` as IMAGE_STORE_PREVIOUS: they write new
 * images to `to` and read through to `from`, so every image is readable throughout. Resumable and
 * idempotent by construction: what was moved is no longer in the source, so a second run (or one
 * after an interruption) finds only what is left.
 */
export class ImageMigration {
  private readonly generations;

  constructor(
    db: Db,
    private readonly from: ImageStore,
    private readonly to: ImageStore,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  /** How many generations there are to look at: the completed ones, an upper bound for the progress bar. */
  total(): Promise<number> {
    return this.generations.countDocuments({ status: 'completed' });
  }

  async run(onProgress: (progress: MigrationProgress) => void = () => {}): Promise<MigrationProgress> {
    const progress: MigrationProgress = { moved: 0, skipped: 0 };
    let after: ObjectId | null = null;
    for (;;) {
      const page: StoredImage[] = await this.from.list(after, PAGE);
      if (page.length === 0) return progress;
      for (let i = 0; i < page.length; i += PARALLEL) {
        const outcomes = await Promise.all(page.slice(i, i + PARALLEL).map(({ id }) => this.move(id)));
        for (const moved of outcomes) progress[moved ? 'moved' : 'skipped']++;
        onProgress(progress);
      }
      after = page.at(-1)!.id;
    }
  }

  /**
   * One generation's images: its record gives the owner and each image's metadata, which the target
   * stores beside the bytes. The first image is written first, as a store's walks (sweeps, this
   * migration) find a generation by it; the source keeps everything until the target has it all,
   * so an interrupted move is made again whole. An image other than the first that the source does
   * not have (lost, or moved by another run meanwhile) is passed over: the others still move.
   */
  private async move(id: ObjectId): Promise<boolean> {
    const generation = await this.generations.findOne({ _id: id });
    if (generation?.status !== 'completed' || !generation.image) return false;
    const metas = imagesOf(generation);
    const parts: { part: ImagePart; bytes: Buffer }[] = [];
    for (const index of metas.keys()) {
      const part = { index };
      const bytes = await this.from.read(id, part);
      // The first one deleted (or moved by another run) since it was listed: the generation went with it.
      if (!bytes && index === 0) return false;
      if (bytes) parts.push({ part, bytes });
    }
    for (const { part, bytes } of parts) {
      await this.to.put(id, { owner: generation.user_id, bytes, meta: metas[part.index]! }, part);
    }
    await this.from.delete(id);
    return true;
  }
}

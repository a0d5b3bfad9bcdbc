import type { Db, ObjectId } from 'mongodb';
import { COLLECTIONS, type GenerationDocument, type ImageStore, type StoredImage } from '@imagegen/core';

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
 * Moves every image from `from` to `to`: each is written to the target, then removed from the
 * source. Run while the services use `to` with `from` as IMAGE_STORE_PREVIOUS: they write new
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

  /** How many images there are to look at: the completed generations, an upper bound for the progress bar. */
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

  /** One image: its record gives the owner and metadata the target stores beside the bytes. */
  private async move(id: ObjectId): Promise<boolean> {
    const generation = await this.generations.findOne({ _id: id });
    if (generation?.status !== 'completed' || !generation.image) return false;
    const bytes = await this.from.read(id);
    // Deleted (or moved by another run) since it was listed.
    if (!bytes) return false;
    await this.to.put(id, { owner: generation.user_id, bytes, meta: generation.image });
    await this.from.delete(id);
    return true;
  }
}

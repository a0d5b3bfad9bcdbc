import type { RedisClient } from '@imagegen/core';
import { ObjectId, type Db } from 'mongodb';
import { COLLECTIONS, type GenerationDocument, type ImageStore, type Logger, type StoredImage } from '@imagegen/core';
import { eachSettled, warnOf } from './each-settled';
import { before, type SweepTask } from './sweep-task';

/**
 * An image younger than this is left alone whatever its record says: a worker writes the image
 * before it completes the record (and retries that write for WORKER_DB_RETRY_MS while MongoDB is
 * away), so a fresh image of a record not yet completed is most likely one about to be.
 */
export const ORPHAN_GRACE_MS = 3_600_000;

type Owner = Pick<GenerationDocument, '_id' | 'status' | 'image_expired'>;

/**
 * Walks the image store a page per pass, resuming where the last pass stopped, and deletes images
 * no record will ever show: of no generation, of one that did not complete (a crash between the
 * image write and the record write, or a cancel that came meanwhile), or of one whose image expired.
 */
export class OrphanImages implements SweepTask {
  readonly kind = 'orphan_images';
  private readonly generations;
  private readonly cursorKey: string;

  constructor(
    db: Db,
    private readonly images: ImageStore,
    private readonly redis: RedisClient,
    queuePrefix: string,
    private readonly logger: Logger,
    private readonly batch: number,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.cursorKey = `${queuePrefix}:sweeper:orphan-cursor`;
  }

  async run(now: Date): Promise<number> {
    const after = await this.redis.get(this.cursorKey);
    const page = await this.images.list(after ? new ObjectId(after) : null, this.batch);
    const settled = before(now, ORPHAN_GRACE_MS);
    const old = page.filter((image) => image.storedAt < settled);
    const orphans = await this.orphansAmong(old);
    const removed = await eachSettled(
      orphans,
      (id) => this.images.delete(id),
      warnOf(this.logger, 'could not delete an orphan image'),
    );
    // Moved once the page is done, so a pass cut short does its page again; a short page is the
    // store's end, and the next pass starts over from its first image.
    const last = page.at(-1);
    if (page.length < this.batch || !last) await this.redis.del(this.cursorKey);
    else await this.redis.set(this.cursorKey, last.id.toHexString());
    return removed.length;
  }

  /**
   * The page's records in one query: MongoDB answers `_id: {$in}` from its primary key, and FerretDB
   * v1 on SQLite, which scans even for a lone `_id`, scans once rather than once per image.
   */
  private async orphansAmong(images: StoredImage[]): Promise<ObjectId[]> {
    if (images.length === 0) return [];
    const owners = await this.generations
      .find({ _id: { $in: images.map((image) => image.id) } }, { projection: { status: 1, image_expired: 1 } })
      .toArray();
    const byId = new Map(owners.map((owner) => [owner._id.toHexString(), owner]));
    return images.map((image) => image.id).filter((id) => orphaned(byId.get(id.toHexString()) ?? null));
  }
}

/**
 * Whether no record will ever show this image. One in flight keeps it: its run may still complete
 * with it. One that failed or was canceled may be retried, but the new run writes its image anew,
 * once its provider has answered, long after this look.
 */
function orphaned(owner: Owner | null): boolean {
  if (!owner) return true;
  if (owner.status === 'pending' || owner.status === 'processing') return false;
  return owner.status !== 'completed' || owner.image_expired === true;
}

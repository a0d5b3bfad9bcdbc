import type { Db, ObjectId } from 'mongodb';
import type { ImageStoreKind, ImageStoreSettings } from '@imagegen/shared';
import type { ByteRange, ImageBody, ImageStore, ImageToStore, PresignedUrl, StoredImage } from './image-store';
import { MongoImageStore } from './mongo-image-store';
import { S3ImageStore } from './s3-image-store';

/** The store of one kind, from the settings. */
export function imageStoreOfKind(kind: ImageStoreKind, settings: ImageStoreSettings, db: Db): ImageStore {
  return kind === 's3' ? new S3ImageStore(settings) : new MongoImageStore(db);
}

/** The store the services use: IMAGE_STORE, reading through to IMAGE_STORE_PREVIOUS while a migration runs. */
export function imageStoreFrom(settings: ImageStoreSettings, db: Db): ImageStore {
  const current = imageStoreOfKind(settings.IMAGE_STORE, settings, db);
  return settings.IMAGE_STORE_PREVIOUS
    ? new MigratingImageStore(current, imageStoreOfKind(settings.IMAGE_STORE_PREVIOUS, settings, db))
    : current;
}

/**
 * While `pnpm images:migrate` moves images from `previous` to `current`: writes go to `current`;
 * a read that misses there looks in `previous`, then in `current` again, since the migration may
 * have moved the image between the first two looks; a delete removes from both.
 */
export class MigratingImageStore implements ImageStore {
  readonly kind: ImageStoreKind;
  readonly description: string;

  constructor(
    private readonly current: ImageStore,
    private readonly previous: ImageStore,
  ) {
    this.kind = current.kind;
    this.description = `${current.description}, reading through to ${previous.description} while images migrate`;
    if (current.presign) this.presign = (id, ttlMs) => this.signed(id, ttlMs);
  }

  presign?: (id: ObjectId, ttlMs: number) => Promise<PresignedUrl | null>;

  put(id: ObjectId, image: ImageToStore): Promise<void> {
    return this.current.put(id, image);
  }

  async read(id: ObjectId): Promise<Buffer | null> {
    return (await this.current.read(id)) ?? (await this.previous.read(id)) ?? (await this.current.read(id));
  }

  async open(id: ObjectId, range?: ByteRange): Promise<ImageBody | null> {
    return (
      (await this.current.open(id, range)) ??
      (await this.previous.open(id, range)) ??
      (await this.current.open(id, range))
    );
  }

  async has(id: ObjectId): Promise<boolean> {
    return (await this.current.has(id)) || (await this.previous.has(id)) || (await this.current.has(id));
  }

  async delete(id: ObjectId): Promise<void> {
    await Promise.all([this.current.delete(id), this.previous.delete(id)]);
  }

  /** The current store's images only: the previous one is the migration's to walk. */
  list(after: ObjectId | null, limit: number): Promise<StoredImage[]> {
    return this.current.list(after, limit);
  }

  /** A URL only for an image already moved: one still in the previous store is served by the API. */
  private async signed(id: ObjectId, ttlMs: number): Promise<PresignedUrl | null> {
    return (await this.current.has(id)) ? this.current.presign!(id, ttlMs) : null;
  }

  async close(): Promise<void> {
    await Promise.all([this.current.close(), this.previous.close()]);
  }
}

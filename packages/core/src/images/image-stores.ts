import type { Db, ObjectId } from 'mongodb';
import type { ImageStoreKind, ImageStoreSettings } from '@imagegen/shared';
import type {
  ByteRange,
  ImageBody,
  ImagePart,
  ImageStore,
  ImageToStore,
  PresignedUrl,
  StoredImage,
} from './image-store';
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
    if (current.presign) this.presign = (id, ttlMs, part) => this.signed(id, ttlMs, part);
  }

  presign?: (id: ObjectId, ttlMs: number, part?: ImagePart) => Promise<PresignedUrl | null>;

  put(id: ObjectId, image: ImageToStore, part?: ImagePart): Promise<void> {
    return this.current.put(id, image, part);
  }

  async read(id: ObjectId, part?: ImagePart): Promise<Buffer | null> {
    return (
      (await this.current.read(id, part)) ?? (await this.previous.read(id, part)) ?? (await this.current.read(id, part))
    );
  }

  async open(id: ObjectId, range?: ByteRange, part?: ImagePart): Promise<ImageBody | null> {
    return (
      (await this.current.open(id, range, part)) ??
      (await this.previous.open(id, range, part)) ??
      (await this.current.open(id, range, part))
    );
  }

  async has(id: ObjectId, part?: ImagePart): Promise<boolean> {
    return (
      (await this.current.has(id, part)) || (await this.previous.has(id, part)) || (await this.current.has(id, part))
    );
  }

  async delete(id: ObjectId): Promise<void> {
    await Promise.all([this.current.delete(id), this.previous.delete(id)]);
  }

  /** The current store's images only: the previous one is the migration's to walk. */
  list(after: ObjectId | null, limit: number): Promise<StoredImage[]> {
    return this.current.list(after, limit);
  }

  /** A URL only for an image already moved: one still in the previous store is served by the API. */
  private async signed(id: ObjectId, ttlMs: number, part?: ImagePart): Promise<PresignedUrl | null> {
    return (await this.current.has(id, part)) ? this.current.presign!(id, ttlMs, part) : null;
  }

  async close(): Promise<void> {
    await Promise.all([this.current.close(), this.previous.close()]);
  }
}

import type { Db } from 'mongodb';
import { COLLECTIONS } from './db';

/** Creates the indexes the queries rely on. Idempotent; both services call it at start. */
export async function ensureIndexes(db: Db): Promise<void> {
  await Promise.all([
    db.collection(COLLECTIONS.users).createIndex({ email: 1 }, { unique: true, name: 'email_unique' }),
    // Account deletions cut short, which the retention sweep finishes. Not partial: FerretDB v1 has none.
    db.collection(COLLECTIONS.users).createIndex({ deleted_at: 1 }, { name: 'deleted_oldest' }),
    db.collection(COLLECTIONS.generations).createIndex({ user_id: 1, _id: -1 }, { name: 'user_newest' }),
    db
      .collection(COLLECTIONS.generations)
      .createIndex({ user_id: 1, status: 1, _id: -1 }, { name: 'user_status_newest' }),
    // The worker's reconciler looks for runs in flight that have not moved for a while; the
    // retention sweep, for ended generations past RETENTION_GENERATIONS_DAYS.
    db.collection(COLLECTIONS.generations).createIndex({ status: 1, updated_at: 1 }, { name: 'status_oldest' }),
    // The retention sweep looks for completed generations whose image is past RETENTION_IMAGES_DAYS.
    db
      .collection(COLLECTIONS.generations)
      .createIndex({ status: 1, image_expired: 1, completed_at: 1 }, { name: 'status_image_expired_completed' }),
    db
      .collection(COLLECTIONS.webhookMessages)
      .createIndex({ generation_id: 1, created_at: -1 }, { name: 'generation_newest' }),
    db
      .collection(COLLECTIONS.webhookAttempts)
      .createIndex({ generation_id: 1, attempted_at: -1 }, { name: 'generation_newest' }),
    // The retention sweep removes the delivery log past RETENTION_WEBHOOK_LOG_DAYS.
    db.collection(COLLECTIONS.webhookMessages).createIndex({ created_at: 1 }, { name: 'oldest' }),
    db.collection(COLLECTIONS.webhookAttempts).createIndex({ attempted_at: 1 }, { name: 'oldest' }),
    // Not a TTL index: FerretDB v1 has none. The API deletes a user's expired keys as it claims new ones.
    db.collection(COLLECTIONS.idempotencyKeys).createIndex({ user_id: 1, created_at: 1 }, { name: 'user_oldest' }),
    // The retention sweep removes the keys of every user past their 24 h, active or not.
    db.collection(COLLECTIONS.idempotencyKeys).createIndex({ created_at: 1 }, { name: 'oldest' }),
    // The retention sweep removes claims a day old (Claims).
    db.collection(COLLECTIONS.claims).createIndex({ at: 1 }, { name: 'oldest' }),
  ]);
}

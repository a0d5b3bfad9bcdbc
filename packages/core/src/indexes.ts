import type { CreateIndexesOptions, Db } from 'mongodb';
import { COLLECTIONS } from './db';

/** One index: its collection, its keys in order, and its options, its name among them. */
export interface IndexDeclaration {
  collection: (typeof COLLECTIONS)[keyof typeof COLLECTIONS];
  key: Record<string, 1 | -1>;
  options: CreateIndexesOptions & { name: string };
}

/**
 * Every index of ours, each under the query it serves: the one place indexes are declared (a test
 * holds the other source files to that). Whatever is not here goes by `_id`, which needs none:
 * images, claims, an idempotency key's replay, a record's every status change. No index is partial
 * or TTL: FerretDB v1 has neither.
 */
export const INDEXES: readonly IndexDeclaration[] = [
  // api users/user.repository.ts findByEmail (sign-in); unique, so that insert's duplicate key refuses a taken email.
  { collection: COLLECTIONS.users, key: { email: 1 }, options: { name: 'email_unique', unique: true } },
  // core accounts/account-deleter.ts resumeInterrupted: account deletions cut short, oldest first.
  { collection: COLLECTIONS.users, key: { deleted_at: 1 }, options: { name: 'deleted_oldest' } },
  // api generations/generation.repository.ts listOwned and listAll with a user; core account-deleter.ts delete.
  { collection: COLLECTIONS.generations, key: { user_id: 1, _id: -1 }, options: { name: 'user_newest' } },
  // api generations/generation.repository.ts listOwned and listAll with a user and a status.
  {
    collection: COLLECTIONS.generations,
    key: { user_id: 1, status: 1, _id: -1 },
    options: { name: 'user_status_newest' },
  },
  // worker generations/generation.repository.ts stale (the reconciler); worker retention/generation-retention.ts run.
  { collection: COLLECTIONS.generations, key: { status: 1, updated_at: 1 }, options: { name: 'status_oldest' } },
  // worker retention/image-expiry.ts run: completed generations whose image is past RETENTION_IMAGES_DAYS.
  {
    collection: COLLECTIONS.generations,
    key: { status: 1, image_expired: 1, completed_at: 1 },
    options: { name: 'status_image_expired_completed' },
  },
  // api webhooks/webhook-delivery.repository.ts messagesOf; core generations/generation-deleter.ts deleteMany.
  {
    collection: COLLECTIONS.webhookMessages,
    key: { generation_id: 1, created_at: -1 },
    options: { name: 'generation_newest' },
  },
  // api webhooks/webhook-delivery.repository.ts attemptsOf; core generations/generation-deleter.ts deleteMany.
  {
    collection: COLLECTIONS.webhookAttempts,
    key: { generation_id: 1, attempted_at: -1 },
    options: { name: 'generation_newest' },
  },
  // worker retention/aged-out.ts run: the delivery log past RETENTION_WEBHOOK_LOG_DAYS.
  { collection: COLLECTIONS.webhookMessages, key: { created_at: 1 }, options: { name: 'oldest' } },
  // worker webhooks/webhook.repository.ts overdue (the reconciler's LostWebhooks): messages still to send, most overdue first.
  {
    collection: COLLECTIONS.webhookMessages,
    key: { state: 1, next_attempt_at: 1 },
    options: { name: 'state_overdue' },
  },
  // core images/mongo-image-store.ts delete: a generation's parts beyond its first image, all at once.
  { collection: COLLECTIONS.imageParts, key: { generation_id: 1 }, options: { name: 'generation' } },
  // worker retention/aged-out.ts run: the delivery log past RETENTION_WEBHOOK_LOG_DAYS.
  { collection: COLLECTIONS.webhookAttempts, key: { attempted_at: 1 }, options: { name: 'oldest' } },
  // api generations/idempotency.repository.ts claim; core account-deleter.ts delete, generation-deleter.ts deleteMany.
  { collection: COLLECTIONS.idempotencyKeys, key: { user_id: 1, created_at: 1 }, options: { name: 'user_oldest' } },
  // worker retention/aged-out.ts run: every user's keys past their 24 h, active or not.
  { collection: COLLECTIONS.idempotencyKeys, key: { created_at: 1 }, options: { name: 'oldest' } },
  // worker retention/aged-out.ts run: claims a day old (core claims.ts).
  { collection: COLLECTIONS.claims, key: { at: 1 }, options: { name: 'oldest' } },
  // api usage/quota-records.ts rebuild: a user's generations changed since a quota period began.
  { collection: COLLECTIONS.generations, key: { user_id: 1, updated_at: 1 }, options: { name: 'user_updated' } },
  // api usage/usage.repository.ts report for one user; api usage/quota-records.ts rebuild (runs of deleted generations); core account-deleter.ts delete.
  { collection: COLLECTIONS.usage, key: { user_id: 1, at: 1 }, options: { name: 'user_at' } },
  // api usage/usage.repository.ts report for everyone (GET /api/admin/usage).
  { collection: COLLECTIONS.usage, key: { at: 1 }, options: { name: 'at' } },
];

/** Creates every index in `INDEXES`. Idempotent; both services call it at start (connectMongo). */
export async function ensureIndexes(db: Db): Promise<void> {
  await Promise.all(INDEXES.map(({ collection, key, options }) => db.collection(collection).createIndex(key, options)));
}

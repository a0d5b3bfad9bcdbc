import type { RedisClient } from '@imagegen/core';
import type { Db } from 'mongodb';
import { IDEMPOTENCY_WINDOW_MS, type RetentionSettings, type WebhookMessageState } from '@imagegen/shared';
import {
  COLLECTIONS,
  type ClaimDocument,
  type IdempotencyKeyDocument,
  type ImageStore,
  type Logger,
  type WebhookAttemptDocument,
  type WebhookMessageDocument,
} from '@imagegen/core';
import { AgedOut } from './aged-out';
import { GenerationRetention, type GenerationRemover } from './generation-retention';
import { ImageExpiry } from './image-expiry';
import { InterruptedAccountDeletions, type InterruptedDeletions } from './interrupted-account-deletions';
import { OrphanImages } from './orphan-images';
import { DAY_MS, type SweepTask } from './sweep-task';

export interface SweepDeps {
  db: Db;
  redis: RedisClient;
  images: ImageStore;
  queuePrefix: string;
  logger: Logger;
  generations: GenerationRemover;
  accounts: InterruptedDeletions;
}

/**
 * States a message never leaves for one still being delivered: a redelivery of a delivered or
 * failed message only ever moves it to `delivered` or `stopped`. A `pending` or `retrying` message
 * still has attempts to come, however old it is, and is kept.
 */
const FINAL_MESSAGE_STATES: WebhookMessageState[] = ['delivered', 'failed', 'stopped'];

/**
 * The kinds a pass works through, in order: the retention limits that are set (each off by
 * default), then what is always cleaned up. Whole generations go before their images expire, so
 * an image about to go with its generation is not expired first for nothing.
 */
export function sweepTasks(settings: RetentionSettings, deps: SweepDeps): SweepTask[] {
  const { db, images, logger } = deps;
  const batch = settings.SWEEP_BATCH;
  const days = (limit: number | undefined) => (limit === undefined ? undefined : limit * DAY_MS);
  const generationsMs = days(settings.RETENTION_GENERATIONS_DAYS);
  const imagesMs = days(settings.RETENTION_IMAGES_DAYS);
  const webhookLogMs = days(settings.RETENTION_WEBHOOK_LOG_DAYS);
  return [
    ...(generationsMs ? [new GenerationRetention(db, deps.generations, generationsMs, batch)] : []),
    ...(imagesMs ? [new ImageExpiry(db, images, logger, imagesMs, batch)] : []),
    ...(webhookLogMs
      ? [
          new AgedOut(
            'webhook_attempts',
            db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts),
            'attempted_at',
            webhookLogMs,
            batch,
          ),
          new AgedOut(
            'webhook_messages',
            db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages),
            'created_at',
            webhookLogMs,
            batch,
            {
              state: { $in: FINAL_MESSAGE_STATES },
            },
          ),
        ]
      : []),
    // The API drops a user's expired keys as that user claims new ones; these are the keys of
    // users who stopped sending requests.
    new AgedOut(
      'idempotency_keys',
      db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys),
      'created_at',
      IDEMPOTENCY_WINDOW_MS,
      batch,
    ),
    // A claim matters while writers may still hold the revision it took, a matter of milliseconds;
    // one that outlives its record (deleted since) would otherwise stay forever.
    new AgedOut('claims', db.collection<ClaimDocument>(COLLECTIONS.claims), 'at', DAY_MS, batch),
    new OrphanImages(db, images, deps.redis, deps.queuePrefix, logger, batch),
    new InterruptedAccountDeletions(deps.accounts),
  ];
}

import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { RetentionSettings } from '@imagegen/shared';
import type { ImageStore, Logger } from '@imagegen/core';
import { GenerationRetention, type GenerationRemover } from './generation-retention';
import { IdempotencyKeyRetention } from './idempotency-key-retention';
import { ImageExpiry } from './image-expiry';
import { InterruptedAccountDeletions, type InterruptedDeletions } from './interrupted-account-deletions';
import { OrphanImages } from './orphan-images';
import { DAY_MS, type SweepTask } from './sweep-task';
import { WebhookAttemptRetention, WebhookMessageRetention } from './webhook-log-retention';

export interface SweepDeps {
  db: Db;
  redis: Redis;
  images: ImageStore;
  queuePrefix: string;
  logger: Logger;
  generations: GenerationRemover;
  accounts: InterruptedDeletions;
}

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
      ? [new WebhookAttemptRetention(db, webhookLogMs, batch), new WebhookMessageRetention(db, webhookLogMs, batch)]
      : []),
    new IdempotencyKeyRetention(db, batch),
    new OrphanImages(db, images, deps.redis, deps.queuePrefix, logger, batch),
    new InterruptedAccountDeletions(deps.accounts),
  ];
}

import { z } from 'zod';
import { durationMs } from './env';

/** Past a century a limit keeps everything anyway; larger numbers are typos. */
const MAX_DAYS = 36_500;

/** How long an `Idempotency-Key` answers with the generation it made; the sweep removes keys older than this. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

const Days = z.coerce
  .number({ error: 'must be a number of days, such as 30 or 0.5; leave it unset to keep forever' })
  .positive('must be more than 0 days; leave it unset to keep forever')
  .max(MAX_DAYS, `must be at most ${MAX_DAYS} days; leave it unset to keep forever`)
  .optional();

/** What the worker's retention sweep removes, and how often it looks. Each limit is off (keep forever) when unset. */
export const RetentionSettings = z.object({
  /** Days after completion when a generation's image is deleted; the record stays, marked `image_expired`. */
  RETENTION_IMAGES_DAYS: Days,
  /** Days after its last change when an ended generation is deleted whole: record, image, events and webhook log. */
  RETENTION_GENERATIONS_DAYS: Days,
  /** Days a webhook attempt, and a message no longer being delivered, stay in the delivery log. */
  RETENTION_WEBHOOK_LOG_DAYS: Days,
  /** How often one worker, across all of them, runs a pass of the sweep. */
  SWEEP_INTERVAL_MS: durationMs(600_000),
  /** Records of each kind removed per pass at most: a backlog is worked off over several passes. */
  SWEEP_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
});
export type RetentionSettings = z.infer<typeof RetentionSettings>;

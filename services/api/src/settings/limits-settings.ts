import { z } from 'zod';
import { CancelAfter, Duration, MAX_IMAGE_QUOTA, durationMs } from '@imagegen/shared';
import { MAX_WAIT_SECONDS } from '../generations/generation.schemas';

/** Images a user may have per UTC day or month; unset: no limit. */
const ImageQuota = z.coerce.number().int().min(0).max(MAX_IMAGE_QUOTA).optional();

/** What one user, or one API instance, may hold or ask for: event streams, creates, images, redeliveries. */
export const LimitsSettings = z.object({
  /** How often an idle event stream gets a comment line, so proxies keep it open. */
  EVENTS_HEARTBEAT_MS: durationMs(15_000),
  /** How often each API instance reads the queue once for every open stream of a pending generation. */
  EVENTS_QUEUE_PLACE_MS: durationMs(2000),
  /** Event streams one user may have open at once, across all API instances (counted in Redis); more get 429. */
  EVENTS_STREAMS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(50),
  /** Event streams one API instance holds open at once, all users together; more get 429. */
  EVENTS_STREAMS_PER_INSTANCE: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** Creates per user per CREATE_RATE_WINDOW, across all API instances (counted in Redis). */
  CREATE_RATE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(60),
  CREATE_RATE_WINDOW: Duration.default(60_000),
  /** Generations a user may have pending or processing at once. */
  MAX_IN_FLIGHT_PER_USER: z.coerce.number().int().min(1).max(10_000).default(20),
  /**
   * Images each user may create per UTC day, and per UTC month, across all API instances (counted
   * in Redis, rebuilt from MongoDB when lost); past either, a create or retry gets 429. An image
   * that fails does not count. An admin may set other limits for one user (PATCH /api/admin/users/:id).
   */
  QUOTA_IMAGES_PER_DAY: ImageQuota,
  QUOTA_IMAGES_PER_MONTH: ImageQuota,
  /**
   * Seconds a create that sends no `Prefer` header waits for its generation to end, as
   * `Prefer: wait=N` does (at most 60); 0, the default, answers 202 at once. For clients written
   * against a synchronous API, which read the image from the create's answer.
   */
  CREATE_WAIT_SECONDS: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS).default(0),
  /** `cancel_after` of requests that give none (e.g. `10m`, at most `1h`); unset: no deadline. */
  DEFAULT_CANCEL_AFTER: CancelAfter.optional(),
  /**
   * Redeliveries (POST …/webhook-deliveries/redeliver) per user, and per message, within
   * WEBHOOK_REDELIVERY_WINDOW, across all API instances (counted in Redis): each is a signed POST
   * to a URL the user chose, and without a bound one request became one POST.
   */
  WEBHOOK_REDELIVERIES_PER_USER: z.coerce.number().int().min(1).max(100_000).default(60),
  WEBHOOK_REDELIVERIES_PER_MESSAGE: z.coerce.number().int().min(1).max(1000).default(5),
  WEBHOOK_REDELIVERY_WINDOW: Duration.default(3_600_000),
});

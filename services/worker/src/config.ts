import { z } from 'zod';
import {
  CommonEnv,
  DurationList,
  ImageStoreSettings,
  ProviderSettings,
  RetentionSettings,
  checkImageStoreSettings,
  checkRedisSettings,
  checkProviderSettings,
  resolveProviderSettings,
  MAX_WEBHOOK_RETRIES,
  durationMs,
  parseEnv,
} from '@imagegen/shared';

/** Every setting the worker reads, by its variable's name. */
export const WorkerSettings = CommonEnv.extend({
  ...ProviderSettings.shape,
  ...ImageStoreSettings.shape,
  ...RetentionSettings.shape,
  /**
   * Sent as `X-Scale-Up-Timeout` to an HF_BASE_URL endpoint, in seconds: a dedicated Inference
   * Endpoint scaled to zero then holds the request while it starts, instead of answering 503.
   */
  HF_SCALE_UP_TIMEOUT_S: z.coerce.number().int().min(1).max(3600).optional(),
  /** Overrides every provider's own interval between polls of a queued request (fal-ai 0.5 s, zai-org 5 s). */
  HF_POLL_INTERVAL_MS: z.coerce.number().int().min(1).optional(),
  /** One request to Hugging Face, headers and body together. */
  HF_TIMEOUT_MS: durationMs(120_000),
  /** First delay of the exponential backoff on 429/5xx/network errors. */
  HF_BACKOFF_BASE_MS: durationMs(1_000),
  /** Longest single wait, whatever `estimated_time` or `Retry-After` ask for. */
  HF_BACKOFF_MAX_MS: durationMs(60_000),
  /** Longest a job keeps retrying Hugging Face before it fails. */
  HF_MAX_WAIT_MS: durationMs(600_000),
  HF_MAX_IMAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(20 * 1024 * 1024),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  WORKER_LOCK_MS: durationMs(30_000),
  WORKER_STALLED_INTERVAL_MS: durationMs(30_000),
  /** How long a status write after Hugging Face answered is retried while MongoDB is unreachable. */
  WORKER_DB_RETRY_MS: durationMs(60_000),
  /** When a job that met a MongoDB outage runs again (it spends no attempt). */
  WORKER_DB_OUTAGE_DELAY_MS: durationMs(5_000),
  /** How often one worker looks for generations in flight whose job was lost. */
  RECONCILE_INTERVAL_MS: durationMs(60_000),
  /** A generation in flight is looked at once its record has not changed for this long. */
  RECONCILE_AFTER_MS: durationMs(120_000),
  /** One delivery, from connecting to the end of the receiver's answer; only 2xx within it succeeds. */
  WEBHOOK_TIMEOUT_MS: durationMs(15_000),
  /** Delays between attempts after a failed delivery (about Svix's); one more attempt than delays. */
  WEBHOOK_RETRY_SCHEDULE: DurationList.pipe(
    z.array(z.number()).max(MAX_WEBHOOK_RETRIES, `at most ${MAX_WEBHOOK_RETRIES} retries`),
  ).default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(16),
  /** Port of the worker's health endpoint; 0 picks a free one. */
  WORKER_HEALTH_PORT: z.coerce.number().int().min(0).max(65_535).default(8001),
  /**
   * Address the health and metrics port binds to. Loopback by default: neither needs a token, and
   * metrics tell about the load. In a container, probes and scrapers come from outside: 0.0.0.0.
   */
  WORKER_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
});

const WorkerEnv = WorkerSettings.superRefine((env, ctx) => {
  checkProviderSettings(env, ctx);
  checkImageStoreSettings(env, ctx);
  checkRedisSettings(env, ctx);
}).transform((env) => resolveProviderSettings(env));

export type WorkerConfig = z.infer<typeof WorkerEnv>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return parseEnv(WorkerEnv, env);
}

import { z } from 'zod';
import { ObjectIdString } from './generation';

/**
 * Queue and job names. Never rename one: jobs already waiting or stalled in Redis carry these
 * names, and a renamed queue or job would strand them.
 */
export const QUEUES = { generations: 'generations', webhooks: 'webhooks' } as const;
export const JOBS = { generationCreate: 'generation.create', webhookDeliver: 'webhook.deliver' } as const;

/** Payload of `generation.create`: only the id; the record in MongoDB is the source of truth. */
export const GenerationJobData = z.strictObject({ generationId: ObjectIdString });
export type GenerationJobData = z.infer<typeof GenerationJobData>;

/**
 * Options for every generation job. The job id is the generation id, so enqueueing the same
 * generation twice adds one job. Attempts cover our own faults (a database blip); Hugging Face
 * retries happen inside one attempt, with their own bounded backoff.
 */
export const generationJobOptions = (generationId: string) => ({
  jobId: generationId,
  attempts: 3,
  backoff: { type: 'exponential' as const, delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

/**
 * Payload of `webhook.deliver`: the message to send, stored in MongoDB. `redeliver` marks a single
 * attempt asked for by the user, outside the retry schedule.
 */
export const WebhookJobData = z.strictObject({
  messageId: z.string().regex(/^msg_[\w.]+$/),
  trigger: z.enum(['scheduled', 'redeliver']),
});
export type WebhookJobData = z.infer<typeof WebhookJobData>;

/** The custom backoff type of scheduled webhook jobs: the worker computes each delay itself. */
export const WEBHOOK_BACKOFF = 'webhook-schedule';

const WEBHOOK_JOB_RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * A scheduled delivery: the message id is the job id, so adding it twice adds one job; one attempt
 * more than the retry schedule has delays.
 */
export const webhookJobOptions = (messageId: string, retries: number) => ({
  jobId: messageId,
  attempts: retries + 1,
  backoff: { type: WEBHOOK_BACKOFF },
  ...WEBHOOK_JOB_RETENTION,
});

/** A redelivery: one attempt, its own job, so it neither waits for nor disturbs the schedule. */
export const redeliveryJobOptions = () => ({ attempts: 1, ...WEBHOOK_JOB_RETENTION });

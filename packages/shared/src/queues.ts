import { z } from 'zod';
import { ObjectIdString } from './generation';
import { WebhookTrigger } from './webhooks';

/**
 * Queue and job names. Never rename one: jobs already waiting or stalled in Redis carry these
 * names, and a renamed queue or job would strand them.
 */
export const QUEUES = { generations: 'generations', webhooks: 'webhooks', deadlines: 'generation-deadlines' } as const;
export const JOBS = {
  generationCreate: 'generation.create',
  webhookDeliver: 'webhook.deliver',
  generationDeadline: 'generation.deadline',
} as const;

/**
 * Redis channel (under the queue prefix) on which the job id of a canceled generation's run is
 * published, so the worker running it, whichever it is, aborts its Hugging Face request.
 */
export const cancelChannel = (prefix: string) => `${prefix}:generation-cancel`;

/**
 * Payload of `generation.create`: the id, and which run of the generation the job is for (a retry
 * starts another run with a job of its own); the record in MongoDB is the source of truth.
 */
export const GenerationJobData = z.strictObject({ generationId: ObjectIdString, run: z.int().min(1).default(1) });
export type GenerationJobData = z.infer<typeof GenerationJobData>;

/**
 * A run's job id: the generation id for its first run, so enqueueing it twice adds one job; a
 * later run's job id carries its number, so a retry never depends on what became of the old job.
 */
export const generationJobId = (generationId: string, run: number) =>
  run === 1 ? generationId : `${generationId}_${run}`;

/**
 * Options for every generation job. The job id names the generation and run, so enqueueing the
 * same run twice adds one job. Attempts cover our own faults (a database blip); Hugging Face
 * retries happen inside one attempt, with their own bounded backoff.
 */
export const generationJobOptions = (generationId: string, run: number) => ({
  jobId: generationJobId(generationId, run),
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
  trigger: WebhookTrigger,
});
export type WebhookJobData = z.infer<typeof WebhookJobData>;

/** The custom backoff type of scheduled webhook jobs: the worker computes each delay itself. */
export const WEBHOOK_BACKOFF = 'webhook-schedule';

const WEBHOOK_JOB_RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** The longest WEBHOOK_RETRY_SCHEDULE may be. */
export const MAX_WEBHOOK_RETRIES = 20;

/**
 * A scheduled delivery: the message id is the job id, so adding it twice adds one job. BullMQ may
 * retry it as often as any schedule allows; the worker's processor ends it when its own schedule
 * is spent, so whoever queues it needs not know the schedule.
 */
export const webhookJobOptions = (messageId: string) => ({
  jobId: messageId,
  attempts: MAX_WEBHOOK_RETRIES + 1,
  backoff: { type: WEBHOOK_BACKOFF },
  ...WEBHOOK_JOB_RETENTION,
});

/** A redelivery: one attempt, its own job, so it neither waits for nor disturbs the schedule. */
export const redeliveryJobOptions = () => ({ attempts: 1, ...WEBHOOK_JOB_RETENTION });

/**
 * Payload of `generation.deadline`, due at the generation's `deadline_at`: cancel it if it has not
 * ended. In a queue of its own, so that long image jobs filling every slot cannot hold it back.
 */
export const DeadlineJobData = z.strictObject({ generationId: ObjectIdString, deadlineAt: z.iso.datetime() });
export type DeadlineJobData = z.infer<typeof DeadlineJobData>;

/** One deadline job per run (a retried generation gets a new deadline), due at `deadlineAt`. */
export const deadlineJobOptions = (generationId: string, run: number, deadlineAt: Date) => ({
  jobId: `${generationId}_${run}`,
  delay: Math.max(0, deadlineAt.getTime() - Date.now()),
  attempts: 5,
  backoff: { type: 'exponential' as const, delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600 },
});

/** `GET /api/admin/queues`: each queue's jobs per state, the workers connected, and whether it is paused. */
export const QueueOverview = z.object({
  name: z.string(),
  counts: z.record(z.string(), z.int()),
  workers: z.int(),
  paused: z.boolean(),
});
export type QueueOverview = z.infer<typeof QueueOverview>;

export const QueuesOverview = z.object({ queues: z.array(QueueOverview) });
export type QueuesOverview = z.infer<typeof QueuesOverview>;

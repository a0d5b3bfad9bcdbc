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
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];
export type JobName = (typeof JOBS)[keyof typeof JOBS];

/**
 * Redis channel (under the queue prefix) on which the job id of a canceled generation's run is
 * published, so the worker running it, whichever it is, aborts its Hugging Face request.
 */
export const cancelChannel = (prefix: string) => `${prefix}:generation-cancel`;

/**
 * Payload of `generation.create`: the id, and which run of the generation the job is for (a retry
 * starts another run with a job of its own); the record in MongoDB is the source of truth. `rev`:
 * the revision of the record its enqueuer left pending for that run, which lets the worker start
 * the run without reading the record first (`GenerationStore.start`); absent from jobs queued
 * before it existed, and for records written before revisions.
 */
export const GenerationJobData = z.strictObject({
  generationId: ObjectIdString,
  run: z.int().min(1).default(1),
  rev: z.int().min(0).optional(),
});
export type GenerationJobData = z.infer<typeof GenerationJobData>;

/**
 * A run's job id: the generation id for its first run, so enqueueing it twice adds one job; a
 * later run's job id carries its number, so a retry never depends on what became of the old job.
 */
export const generationJobId = (generationId: string, run: number) =>
  run === 1 ? generationId : `${generationId}_${run}`;

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

/** The longest WEBHOOK_RETRY_SCHEDULE may be. */
export const MAX_WEBHOOK_RETRIES = 20;

/**
 * Payload of `generation.deadline`, due at the generation's `deadline_at`: cancel it if it has not
 * ended. In a queue of its own, so that long image jobs filling every slot cannot hold it back.
 */
export const DeadlineJobData = z.strictObject({ generationId: ObjectIdString, deadlineAt: z.iso.datetime() });
export type DeadlineJobData = z.infer<typeof DeadlineJobData>;

/** A run's deadline job id: one per run, so a retried generation's new deadline is a job of its own. */
export const deadlineJobId = (generationId: string, run: number) => `${generationId}_${run}`;

/** The BullMQ job options the catalog sets: a part of BullMQ's own, so the contract needs no BullMQ. */
export interface JobOptions {
  jobId?: string;
  delay?: number;
  attempts?: number;
  backoff?: { type: string; delay?: number };
  removeOnComplete?: boolean | { age: number; count?: number };
  removeOnFail?: boolean | { age: number; count?: number };
}

interface JobDefinition<Payload extends z.ZodType, Args extends unknown[]> {
  /** The queue it is added to and consumed from. */
  queue: QueueName;
  /** Its data; the worker parses each job's data with it again before running it. */
  payload: Payload;
  /** Its options, from its data and whatever else the one who queues it must say. */
  options: (data: z.infer<Payload>, ...args: Args) => JobOptions;
}

const job = <Payload extends z.ZodType, Args extends unknown[] = []>(definition: JobDefinition<Payload, Args>) =>
  definition;

const RETENTION = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Every job: its queue, its payload and its options. The worker refuses to start without a processor for each. */
export const JOB_CATALOG = {
  /**
   * The job id names the generation and run, so enqueueing the same run twice adds one job.
   * Attempts cover our own faults (a database blip); Hugging Face retries happen inside one
   * attempt, with their own bounded backoff.
   */
  [JOBS.generationCreate]: job({
    queue: QUEUES.generations,
    payload: GenerationJobData,
    options: ({ generationId, run }) => ({
      jobId: generationJobId(generationId, run),
      attempts: 3,
      backoff: { type: 'exponential', delay: 2_000 },
      ...RETENTION,
    }),
  }),
  /**
   * A scheduled delivery: the message id is the job id, so adding it twice adds one job. BullMQ may
   * retry it as often as any schedule allows; the worker's processor ends it when its own schedule
   * is spent, so whoever queues it needs not know the schedule. A redelivery: one attempt, its own
   * job, so it neither waits for nor disturbs the schedule.
   */
  [JOBS.webhookDeliver]: job({
    queue: QUEUES.webhooks,
    payload: WebhookJobData,
    options: ({ messageId, trigger }) =>
      trigger === 'redeliver'
        ? { attempts: 1, ...RETENTION }
        : { jobId: messageId, attempts: MAX_WEBHOOK_RETRIES + 1, backoff: { type: WEBHOOK_BACKOFF }, ...RETENTION },
  }),
  /** One deadline job per run (a retried generation gets a new deadline), due at `deadlineAt`. */
  [JOBS.generationDeadline]: job({
    queue: QUEUES.deadlines,
    payload: DeadlineJobData,
    options: ({ generationId, deadlineAt }, { run }: { run: number }) => ({
      jobId: deadlineJobId(generationId, run),
      delay: Math.max(0, Date.parse(deadlineAt) - Date.now()),
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    }),
  }),
};

type Catalog = typeof JOB_CATALOG;

/** The data of job `N`, as its payload schema gives it. */
export type JobData<N extends JobName> = z.infer<Catalog[N]['payload']>;

/** What job `N`'s options need besides its data (the run of a deadline), as a list of arguments. */
export type JobOptionArgs<N extends JobName> = ArgsAfterData<Catalog[N]['options']>;
type ArgsAfterData<F> = F extends (data: never, ...args: infer A) => JobOptions ? A : never;

/** Job `N`'s options for this data. */
export function jobOptions<N extends JobName>(name: N, data: JobData<N>, ...args: JobOptionArgs<N>): JobOptions {
  // TypeScript cannot tie the catalog entry it looks up to `N`; the signature above does.
  const options = JOB_CATALOG[name].options as (data: unknown, ...args: unknown[]) => JobOptions;
  return options(data, ...args);
}

/** The names of the jobs added to `queue`. */
export const jobsOf = (queue: QueueName): JobName[] =>
  (Object.keys(JOB_CATALOG) as JobName[]).filter((name) => JOB_CATALOG[name].queue === queue);

import { z } from 'zod';
import { ObjectIdString } from './generation';

/**
 * Queue and job names. Never rename one: jobs already waiting or stalled in Redis carry these
 * names, and a renamed queue or job would strand them.
 */
export const QUEUES = { generations: 'generations' } as const;
export const JOBS = { generationCreate: 'generation.create' } as const;

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

import { UnrecoverableError, type Job } from 'bullmq';

/** What users see when a job fails for good for a reason of ours rather than Hugging Face's. */
export const INTERNAL_ERROR = 'Internal error while generating the image';

/** True when BullMQ will not run the job again: it was unrecoverable, or it spent its attempts. */
export function failedForGood(job: Job, err: Error): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
}

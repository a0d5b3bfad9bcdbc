import { UnrecoverableError, type Job } from 'bullmq';

/** True when BullMQ will not run the job again: it was unrecoverable, or it spent its attempts. */
export function failedForGood(job: Job, err: Error): boolean {
  return err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
}

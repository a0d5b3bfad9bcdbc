import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData } from '@imagegen/shared';
import { ConflictError, NotFoundError } from '../errors';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';
import { refuseAsBoard, type QueueActionOverrides } from './bull-board.adapter';

const FINISHED = new Set(['completed', 'failed']);
/** Failed jobs "retry all" reads at a time: each comes with its data and stack trace, and the set may be long. */
export const RETRY_PAGE_SIZE = 100;

/**
 * The dashboard's actions on the generations queue that would put MongoDB and the queue at odds,
 * taken over before bull-board sees them. A retry goes through the same service as the admin API
 * (record back to `pending`, then the job), so clients never see a stale `failed`; removing jobs
 * that are still to run, emptying the queue or editing a job's data would strand generations in
 * `pending`, so they are refused. Everything else passes on to bull-board.
 */
export function dashboardGenerationActions(
  queue: Queue,
  generations: GenerationRepository,
  retries: GenerationRetryService,
): QueueActionOverrides {
  // The job names its generation and run; only the current run's failed job reopens it.
  const retry = async (jobId: string) => {
    const job = await queue.getJob(jobId);
    const payload = GenerationJobData.safeParse(job?.data);
    const generation = payload.success ? await generations.findById(new ObjectId(payload.data.generationId)) : null;
    if (!payload.success || !generation) throw new NotFoundError(`No generation for job ${jobId}`);
    if (generation.run !== payload.data.run) {
      throw new ConflictError(`Job ${jobId} is of an earlier run of its generation`);
    }
    await retries.retry(generation);
  };

  return {
    async retryAll(status, res) {
      if (status !== 'failed') return refuseAsBoard(res, 400, 'Only failed generations are run again');
      res.json(await retryEveryFailed(queue, retry));
    },
    async retryJob(jobId, res) {
      await retry(jobId);
      res.status(204).end();
    },
    cleanAll(status, res, next) {
      if (FINISHED.has(status)) return next();
      refuseAsBoard(res, 409, 'Removing generation jobs that have yet to run would leave their generations pending');
    },
    async cleanJob(jobId, res, next) {
      const state = await queue.getJobState(jobId);
      if (FINISHED.has(state) || state === 'unknown') return next();
      refuseAsBoard(res, 409, `This job is ${state}: removing it would leave its generation pending`);
    },
    empty: (res) => refuseAsBoard(res, 409, 'Emptying the generations queue would leave its generations pending'),
    addJob: (res) =>
      refuseAsBoard(res, 409, 'Generation jobs come from POST /api/generations, which writes their records'),
    updateJobData: (_jobId, res) =>
      refuseAsBoard(res, 409, "A generation job's data names its record and is not edited"),
  };
}

/**
 * Runs `retry` on each job of the failed set, a page at a time, each once. By position, newest
 * first: a job retried here leaves the set (the retry drops its run's job) and a skipped one
 * stays, so the next page starts after the jobs that stayed. A job that fails meanwhile comes in
 * at the front and only pushes the others back: a page may then repeat jobs already seen (so
 * does a retried job whose dropping failed), which are passed over, but none is missed.
 */
async function retryEveryFailed(
  queue: Queue,
  retry: (jobId: string) => Promise<void>,
): Promise<{ retried: number; skipped: number }> {
  let retried = 0;
  let skipped = 0;
  const seen = new Set<string>();
  for (let start = 0; ;) {
    const page = await queue.getJobs(['failed'], start, start + RETRY_PAGE_SIZE - 1);
    if (page.length === 0) return { retried, skipped };
    let stayed = 0;
    for (const job of page) {
      const id = String(job.id);
      if (seen.has(id)) {
        stayed++;
        continue;
      }
      seen.add(id);
      // One that cannot be retried (its record moved on meanwhile) does not stop the others.
      const done = await retry(id).then(
        () => true,
        () => false,
      );
      if (done) retried++;
      else {
        skipped++;
        stayed++;
      }
    }
    start += stayed;
  }
}

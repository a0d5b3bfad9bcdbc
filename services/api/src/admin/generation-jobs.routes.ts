import { Router, type Response } from 'express';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData, QUEUES } from '@imagegen/shared';
import { ConflictError, NotFoundError } from '../errors';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';

const FINISHED = new Set(['completed', 'failed']);

/** Answers as bull-board's own API does, so its UI shows the reason. */
const refuse = (res: Response, status: number, message: string) =>
  res.status(status).json({ success: false, error: message, message });

/**
 * The dashboard's actions on the generations queue that would put MongoDB and the queue at odds,
 * taken over before bull-board sees them. A retry goes through the same service as the admin API
 * (record back to `pending`, then the job), so clients never see a stale `failed`; removing jobs
 * that are still to run, emptying the queue or editing a job's data would strand generations in
 * `pending`, so they are refused. Everything else passes on to bull-board.
 */
export function generationJobRoutes(
  queue: Queue,
  generations: GenerationRepository,
  retries: GenerationRetryService,
): Router {
  // Matched on the decoded queue name, as bull-board matches it: a literal path would let
  // `generation%73` slip past to bull-board.
  const router = Router({ mergeParams: true });
  router.use((req, _res, next) => next(req.params.queueName === QUEUES.generations ? undefined : 'router'));

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

  router.put('/retry/:status', async (req, res) => {
    if (req.params.status !== 'failed') {
      refuse(res, 400, 'Only failed generations are run again');
      return;
    }
    let retried = 0;
    let skipped = 0;
    for (const job of await queue.getJobs(['failed'])) {
      // One that cannot be retried (its record moved on meanwhile) does not stop the others.
      await retry(String(job.id)).then(
        () => retried++,
        () => skipped++,
      );
    }
    res.json({ retried, skipped });
  });

  router.put('/:jobId/retry', async (req, res) => {
    await retry(req.params.jobId);
    res.status(204).end();
  });

  router.put('/clean/:status', (req, res, next) => {
    if (FINISHED.has(req.params.status)) return next();
    refuse(res, 409, 'Removing generation jobs that have yet to run would leave their generations pending');
  });

  router.put('/:jobId/clean', async (req, res, next) => {
    const state = await queue.getJobState(req.params.jobId);
    if (FINISHED.has(state) || state === 'unknown') return next();
    refuse(res, 409, `This job is ${state}: removing it would leave its generation pending`);
  });

  router.put(['/empty', '/obliterate'], (_req, res) => {
    refuse(res, 409, 'Emptying the generations queue would leave its generations pending');
  });

  router.post('/add', (_req, res) => {
    refuse(res, 409, 'Generation jobs come from POST /api/generations, which writes their records');
  });

  router.patch('/:jobId/update-data', (_req, res) => {
    refuse(res, 409, "A generation job's data names its record and is not edited");
  });

  return Router().use('/api/queues/:queueName', router);
}

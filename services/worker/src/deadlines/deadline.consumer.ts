import { DelayedError, type Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { JOBS, QUEUES, type DeadlineJobData } from '@imagegen/shared';
import type { GenerationCanceller, Logger } from '@imagegen/core';
import { handle, type QueueConsumer } from '../consumer-factory';

/** Deadline jobs run at once; each is a single cancel. */
const DEADLINE_CONCURRENCY = 8;

/**
 * The deadlines queue's consumer: `generation.deadline` jobs come due at a generation's
 * `deadline_at` and cancel it if it is still pending or processing. Its own worker, so image jobs
 * filling every slot cannot hold a deadline back.
 */
export function deadlineConsumer(canceller: GenerationCanceller, logger: Logger): QueueConsumer {
  const cancelAtDeadline = async (job: Job<DeadlineJobData>, token: string | undefined) => {
    const { generationId, deadlineAt } = job.data;
    // Run before its time (promoted from the dashboard): back to waiting for it.
    if (Date.parse(deadlineAt) > Date.now() && token) {
      await job.moveToDelayed(Date.parse(deadlineAt), token);
      throw new DelayedError();
    }
    // Only the run this deadline was set for: a retried generation has a deadline of its own.
    const canceled = await canceller.cancel(new ObjectId(generationId), 'deadline', {
      deadline_at: new Date(deadlineAt),
    });
    if (canceled) logger.info({ generationId }, 'generation canceled at its deadline');
  };
  return {
    queue: QUEUES.deadlines,
    concurrency: DEADLINE_CONCURRENCY,
    handlers: [handle(JOBS.generationDeadline, cancelAtDeadline)],
  };
}

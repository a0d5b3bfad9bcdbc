import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { DeadlineJobData, QUEUES } from '@imagegen/shared';
import type { GenerationCanceller, Logger } from '@imagegen/core';
import { queueTelemetry } from '@imagegen/telemetry';
import type { WorkerConfig } from '../config';

/**
 * The deadlines queue's worker: `generation.deadline` jobs come due at a generation's
 * `deadline_at` and cancel it if it is still pending or processing. Its own worker, so image jobs
 * filling every slot cannot hold a deadline back.
 */
export function deadlineConsumer(
  config: WorkerConfig,
  connection: Redis,
  canceller: GenerationCanceller,
  logger: Logger,
): Worker {
  const worker = new Worker(
    QUEUES.deadlines,
    async (job: Job, token?: string) => {
      const payload = DeadlineJobData.safeParse(job.data);
      if (!payload.success) throw new UnrecoverableError(`invalid job payload: ${payload.error.message}`);
      const { generationId, deadlineAt } = payload.data;
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
    },
    {
      connection,
      prefix: config.QUEUE_PREFIX,
      concurrency: 8,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      autorun: false,
      telemetry: queueTelemetry(),
    },
  );
  worker.on('error', (err) => logger.error({ err: err.message }, 'deadline worker error'));
  return worker;
}

import type { Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData, JOBS, QUEUES } from '@imagegen/shared';
import type { GenerationLifecycle, GenerationStore, Logger } from '@imagegen/core';
import { handle, type QueueConsumer } from '../consumer-factory';
import { INTERNAL_ERROR, failedForGood } from '../final-failure';
import { generateImageProcessor, type ProcessorDeps } from '../generate-image.processor';

/** The generations queue's consumer: `generation.create` renders an image; its slots are WORKER_CONCURRENCY. */
export function generationConsumer(deps: ProcessorDeps, concurrency: number): QueueConsumer {
  const { store, lifecycle, logger } = deps;
  return {
    queue: QUEUES.generations,
    concurrency,
    handlers: [handle(JOBS.generationCreate, generateImageProcessor(deps))],
    failed: (job, err) => {
      logger.warn({ jobId: job.id, err: err.message }, 'job failed');
      void finalizeFailed(job, err, store, lifecycle, logger);
    },
  };
}

/**
 * A job that failed for good must leave its generation `failed`, even when the processor never
 * reached its own handling: BullMQ fails a job that stalled too often without running it, and the
 * processor's last write may itself have hit a database outage. The update is conditional, so a
 * generation the processor already finished is left as it is.
 */
async function finalizeFailed(
  job: Job,
  err: Error,
  store: GenerationStore,
  lifecycle: GenerationLifecycle,
  logger: Logger,
): Promise<void> {
  const payload = GenerationJobData.safeParse(job.data);
  if (!failedForGood(job, err) || !payload.success) return;
  try {
    const { generationId, run } = payload.data;
    const failed = await store.fail(new ObjectId(generationId), run, INTERNAL_ERROR);
    if (failed) await lifecycle.ended(failed);
  } catch (failErr) {
    logger.error({ jobId: job.id, err: (failErr as Error).message }, 'could not mark the generation failed');
  }
}

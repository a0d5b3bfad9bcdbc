import type { Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData, JOBS, QUEUES } from '@imagegen/shared';
import { handle, type QueueConsumer } from '../consumer-factory';
import { INTERNAL_ERROR, failedForGood } from '../final-failure';
import { generateImageProcessor, type ProcessorDeps } from '../generate-image.processor';

/** The generations queue's consumer: `generation.create` renders the images; its slots are WORKER_CONCURRENCY. */
export function generationConsumer(deps: ProcessorDeps, concurrency: number): QueueConsumer {
  const { logger } = deps;
  return {
    queue: QUEUES.generations,
    concurrency,
    handlers: [handle(JOBS.generationCreate, generateImageProcessor(deps))],
    failed: (job, err) => {
      logger.warn({ jobId: job.id, err: err.message }, 'job failed');
      void finalizeFailed(job, err, deps);
    },
  };
}

/**
 * A job that failed for good must leave its generation `failed`, even when the processor never
 * reached its own handling: BullMQ fails a job that stalled too often without running it, and the
 * processor's last write may itself have hit a database outage. The update is conditional, so a
 * generation the processor already finished is left as it is. The run it ends is counted in usage
 * with no images and no provider: what the failed attempts spent is not known here.
 */
async function finalizeFailed(
  job: Job,
  err: Error,
  { store, lifecycle, usage, logger }: Pick<ProcessorDeps, 'store' | 'lifecycle' | 'usage' | 'logger'>,
): Promise<void> {
  const payload = GenerationJobData.safeParse(job.data);
  if (!failedForGood(job, err) || !payload.success) return;
  try {
    const { generationId, run } = payload.data;
    const failed = await store.fail(new ObjectId(generationId), run, INTERNAL_ERROR);
    if (!failed) return;
    await usage
      .record({ generation: failed, outcome: 'failed', provider: null, images: 0, providerMs: 0 })
      .catch((usageErr: unknown) => {
        logger.warn({ jobId: job.id, err: (usageErr as Error).message }, 'could not record the run in usage');
      });
    await lifecycle.ended(failed);
  } catch (failErr) {
    logger.error({ jobId: job.id, err: (failErr as Error).message }, 'could not mark the generation failed');
  }
}

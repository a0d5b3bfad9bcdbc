import type { Worker } from 'bullmq';
import { duplicateRedis, type RedisClient } from '@imagegen/core';
import { cancelChannel } from '@imagegen/shared';
import type { Logger } from '@imagegen/core';
import { ABORT_REASONS } from '../abort-reasons';

/**
 * A canceled generation's job id arrives here from whichever process canceled it; the worker that
 * runs its job (if this one does) aborts the Hugging Face request. Resolves to the subscribed
 * connection, to be disconnected on stop.
 */
export async function subscribeToCancels(
  redis: RedisClient,
  prefix: string,
  worker: Worker,
  logger: Logger,
): Promise<RedisClient> {
  const cancellations = duplicateRedis(redis, 'blocking');
  cancellations.on('error', (err) => logger.warn({ err: err.message }, 'cancellation subscription error'));
  cancellations.on('message', (_channel: string, jobId: string) => {
    if (worker.cancelJob(jobId, ABORT_REASONS.canceled)) logger.info({ jobId }, 'aborting a canceled generation');
  });
  await cancellations.subscribe(cancelChannel(prefix));
  return cancellations;
}

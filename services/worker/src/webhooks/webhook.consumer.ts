import type { Job } from 'bullmq';
import { JOBS, QUEUES, WEBHOOK_BACKOFF, WebhookJobData } from '@imagegen/shared';
import type { Logger } from '@imagegen/core';
import type { WorkerConfig } from '../config';
import { handle, type QueueConsumer } from '../consumer-factory';
import { failedForGood } from '../final-failure';
import { RetryLater, deliverWebhookProcessor } from './deliver-webhook.processor';
import { nextRetryDelay } from './retry-schedule';
import { safeAgent } from './safe-agent';
import { WebhookSender } from './webhook-sender';
import type { WebhookRepository } from './webhook.repository';
import type { WorkerMetrics } from '../metrics';

export interface WebhookConsumer {
  consumer: QueueConsumer;
  /** Closes the HTTP connections to receivers, once the worker has stopped. */
  closeConnections(): Promise<void>;
}

/**
 * The webhooks queue's consumer: its own BullMQ worker and concurrency, apart from image jobs, so
 * receivers that are slow or down never take a slot an image needs.
 */
export function webhookConsumer(
  config: WorkerConfig,
  repository: WebhookRepository,
  logger: Logger,
  metrics: Pick<WorkerMetrics, 'webhookDelivered'>,
): WebhookConsumer {
  const agent = safeAgent(
    { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
    config.WEBHOOK_TIMEOUT_MS,
    config.WEBHOOK_CONCURRENCY,
  );
  const schedule = config.WEBHOOK_RETRY_SCHEDULE;
  const processor = deliverWebhookProcessor({
    repository,
    sender: new WebhookSender(agent, config.WEBHOOK_TIMEOUT_MS),
    schedule,
    logger,
    metrics,
  });
  const consumer: QueueConsumer = {
    queue: QUEUES.webhooks,
    concurrency: config.WEBHOOK_CONCURRENCY,
    handlers: [handle(JOBS.webhookDeliver, processor)],
    failed: (job, err) => {
      if (failedForGood(job, err)) void markFailed(job, repository, logger);
    },
    settings: {
      // The processor decided the delay (schedule, jitter, Retry-After) and logged it; our own faults
      // (a database blip before the log was written) follow the schedule.
      backoffStrategy: (attemptsMade: number, type?: string, err?: Error) => {
        if (type !== WEBHOOK_BACKOFF) return 0;
        if (err instanceof RetryLater) return err.delayMs;
        return nextRetryDelay(schedule, attemptsMade, undefined) ?? schedule.at(-1) ?? 0;
      },
    },
  };
  return { consumer, closeConnections: () => agent.close() };
}

/** A message whose job failed for good before its last attempt was logged must not look pending. */
async function markFailed(job: Job, repository: WebhookRepository, logger: Logger): Promise<void> {
  const payload = WebhookJobData.safeParse(job.data);
  if (!payload.success || payload.data.trigger !== 'scheduled') return;
  await repository.markFailed(payload.data.messageId).catch((err: unknown) => {
    logger.error({ jobId: job.id, err: (err as Error).message }, 'could not mark the webhook message failed');
  });
}

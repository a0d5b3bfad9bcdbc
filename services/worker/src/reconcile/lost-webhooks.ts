import type { Queue } from 'bullmq';
import { JOBS } from '@imagegen/shared';
import type { JobEnqueuer, Logger } from '@imagegen/core';
import type { WebhookRepository } from '../webhooks/webhook.repository';

export type WebhookOutcome = 'requeued' | 'failed' | 'running';

/**
 * Finds webhook messages whose delivery job was lost and queues it again. A message waiting for
 * an attempt (`pending`, or `retrying` until `next_attempt_at`) always has a job in Redis; once
 * Redis loses it (a failover before the job reached the replica, a restart without persistence),
 * nothing else would ever send the message. So a message overdue by `staleAfterMs` whose job is
 * gone gets a new one, under the same id; one whose job failed for good without the message
 * hearing (MongoDB was away then) is marked failed, as the job's failed handler would have.
 */
export class LostWebhooks {
  constructor(
    private readonly deps: {
      messages: WebhookRepository;
      deliveries: Queue;
      jobs: JobEnqueuer;
      logger: Logger;
    },
  ) {}

  async pass(overdueSince: Date, batch: number): Promise<Record<WebhookOutcome, number>> {
    const counts: Record<WebhookOutcome, number> = { requeued: 0, failed: 0, running: 0 };
    for (const message of await this.deps.messages.overdue(overdueSince, batch)) {
      const job = await this.deps.deliveries.getJob(message._id);
      const state = job ? await job.getState() : 'unknown';
      if (state === 'failed') {
        await this.deps.messages.markFailed(message._id);
        counts.failed++;
      } else if (state === 'unknown' || state === 'completed') {
        // A completed job whose message did not follow is removed first: its id would make the add a no-op.
        await job?.remove();
        await this.deps.jobs.enqueue(JOBS.webhookDeliver, { messageId: message._id, trigger: 'scheduled' });
        counts.requeued++;
      } else counts.running++;
    }
    if (counts.requeued || counts.failed)
      this.deps.logger.warn(counts, 'reconciled webhook messages whose job was lost');
    return counts;
  }
}

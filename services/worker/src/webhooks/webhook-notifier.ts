import type { Queue } from 'bullmq';
import {
  JOBS,
  toSummary,
  webhookJobOptions,
  webhookMessageId,
  type GenerationDocument,
  type WebhookJobData,
  type WebhookPayload,
  type WebhookType,
} from '@imagegen/shared';
import type { WebhookRepository } from './webhook.repository';

export interface NotifierOptions {
  /** Where clients reach the API, for the absolute image URL in payloads. */
  publicBaseUrl: string;
  /** Retries after the first attempt (the length of the retry schedule). */
  retries: number;
}

/**
 * Turns a generation's events into webhook messages and queues their delivery. It only writes and
 * enqueues; the sending happens in the webhooks queue, so a slow receiver never holds image work.
 * Calling it again for the same event is safe: the message id and job id are derived from it.
 */
export class WebhookNotifier {
  constructor(
    private readonly repository: WebhookRepository,
    private readonly queue: Queue<WebhookJobData>,
    private readonly options: NotifierOptions,
  ) {}

  /** A worker took the generation; sent when the generation asked for `start`. */
  async started(generation: GenerationDocument): Promise<void> {
    if (!generation.webhook?.events.includes('start') || !generation.started_at) return;
    await this.publish(generation, 'generation.started', generation.started_at);
  }

  /** The generation ended; sent, whether it completed or failed, when it asked for `completed`. */
  async ended(generation: GenerationDocument): Promise<void> {
    if (!generation.webhook?.events.includes('completed') || !generation.completed_at) return;
    if (generation.status !== 'completed' && generation.status !== 'failed') return;
    await this.publish(generation, `generation.${generation.status}`, generation.completed_at);
  }

  private async publish(generation: GenerationDocument, type: WebhookType, at: Date): Promise<void> {
    const { webhook } = generation;
    if (!webhook) return;
    const id = generation._id.toHexString();
    const payload: WebhookPayload = {
      type,
      timestamp: at.toISOString(),
      data: {
        ...toSummary(generation),
        image_url:
          generation.status === 'completed' ? `${this.options.publicBaseUrl}/api/generations/${id}/image` : null,
      },
    };
    const now = new Date();
    const message = await this.repository.ensureMessage({
      _id: webhookMessageId(id, type, generation.history.length + 1),
      generation_id: generation._id,
      user_id: generation.user_id,
      type,
      url: webhook.url,
      body: JSON.stringify(payload),
      state: 'pending',
      attempts: 0,
      next_attempt_at: now,
      created_at: now,
      updated_at: now,
    });
    // A message already attempted has (or had) its job; adding it again would restart the schedule.
    if (message.state !== 'pending') return;
    await this.queue.add(
      JOBS.webhookDeliver,
      { messageId: message._id, trigger: 'scheduled' },
      webhookJobOptions(message._id, this.options.retries),
    );
  }
}

import { ObjectId } from 'mongodb';
import { JOBS, type WebhookDeliveries, type WebhookRedelivery } from '@imagegen/shared';
import type { JobEnqueuer } from '@imagegen/core';
import { ConflictError, NotFoundError } from '../errors';
import type { GenerationRepository } from '../generations/generation.repository';
import type { RedeliveryLimits } from './redelivery-limits';
import type { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { toAttemptView, toMessageView } from './webhook.mapper';

export class WebhookDeliveryService {
  constructor(
    private readonly generations: GenerationRepository,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly jobs: JobEnqueuer,
    private readonly limits: RedeliveryLimits,
  ) {}

  async list(userId: string, generationId: string): Promise<WebhookDeliveries> {
    const id = await this.owned(userId, generationId);
    const [messages, attempts] = await Promise.all([this.deliveries.messagesOf(id), this.deliveries.attemptsOf(id)]);
    return { messages: messages.map(toMessageView), attempts: attempts.map(toAttemptView) };
  }

  /**
   * Sends the generation's latest message once more, with its `webhook-id`, within the limits;
   * never after the receiver answered 410, which asks (Standard Webhooks) that it be sent no more.
   */
  async redeliver(userId: string, generationId: string): Promise<WebhookRedelivery> {
    const id = await this.owned(userId, generationId);
    const [latest] = await this.deliveries.messagesOf(id);
    if (!latest) throw new ConflictError('This generation has sent no webhook message yet');
    if (latest.state === 'stopped') {
      throw new ConflictError('The receiver answered 410 Gone to this message, asking that it be sent no more');
    }
    await this.limits.consume(userId, latest._id);
    await this.jobs.enqueue(JOBS.webhookDeliver, { messageId: latest._id, trigger: 'redeliver' });
    return { message_id: latest._id };
  }

  private async owned(userId: string, generationId: string): Promise<ObjectId> {
    const doc = await this.generations.findOwned(new ObjectId(generationId), new ObjectId(userId));
    if (!doc) throw new NotFoundError('Generation not found');
    return doc._id;
  }
}

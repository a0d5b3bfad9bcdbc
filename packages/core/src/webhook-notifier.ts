import type { Db } from 'mongodb';
import { COLLECTIONS, isDuplicateKey, type GenerationDocument, type WebhookMessageDocument } from './db';
import { toSummary } from './generation-view';
import { JOBS, webhookMessageId, type WebhookPayload, type WebhookType } from '@imagegen/shared';
import type { JobEnqueuer } from './jobs/job-queues';

const ENDINGS: Partial<Record<GenerationDocument['status'], WebhookType>> = {
  completed: 'generation.completed',
  failed: 'generation.failed',
  canceled: 'generation.canceled',
};

/**
 * Turns a generation's events into webhook messages and queues their delivery. It only writes and
 * enqueues; the sending happens in the webhooks queue, so a slow receiver never holds image work.
 * Calling it again for the same event is safe: the message id and job id are derived from it.
 */
export class WebhookNotifier {
  private readonly messages;

  constructor(
    db: Db,
    private readonly jobs: JobEnqueuer,
    /** Where clients reach the API, for the absolute URLs in payloads. */
    private readonly publicBaseUrl: string,
  ) {
    this.messages = db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
  }

  /** A worker took the generation; sent when the generation asked for `start`. */
  async started(generation: GenerationDocument): Promise<void> {
    if (!generation.webhook?.events.includes('start') || !generation.started_at) return;
    await this.publish(generation, 'generation.started', generation.started_at);
  }

  /** The generation ended (completed, failed or canceled); sent when it asked for `completed`. */
  async ended(generation: GenerationDocument): Promise<void> {
    const type = ENDINGS[generation.status];
    if (!type || !generation.webhook?.events.includes('completed') || !generation.completed_at) return;
    await this.publish(generation, type, generation.completed_at);
  }

  private async publish(generation: GenerationDocument, type: WebhookType, at: Date): Promise<void> {
    const { webhook } = generation;
    if (!webhook) return;
    const summary = toSummary(generation, this.publicBaseUrl);
    const payload: WebhookPayload = {
      type,
      timestamp: at.toISOString(),
      data: { ...summary, image_url: generation.status === 'completed' ? summary.urls.image : null },
    };
    const now = new Date();
    const _id = webhookMessageId(summary.id, type, generation.run);
    const fields: Omit<WebhookMessageDocument, '_id'> = {
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
    };
    // The first write of a message wins, so a job run twice sends the bytes of the first run. An
    // insert, not an upsert: a unique `_id` holds on every MongoDB-wire server (see `Claims`).
    try {
      await this.messages.insertOne({ _id, ...fields });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const message = await this.messages.findOne({ _id });
      // A message already attempted has (or had) its job; adding it again would restart the schedule.
      if (message?.state !== 'pending') return;
    }
    await this.jobs.enqueue(JOBS.webhookDeliver, { messageId: _id, trigger: 'scheduled' });
  }
}

import type { Db } from 'mongodb';
import type { WebhookMessageState } from '@imagegen/shared';
import { COLLECTIONS, type WebhookAttemptDocument, type WebhookMessageDocument } from '@imagegen/core';
import { deleteByIds } from './delete-by-ids';
import { before, type SweepTask } from './sweep-task';

/**
 * States a message never leaves for one still being delivered: a redelivery of a delivered or
 * failed message only ever moves it to `delivered` or `stopped`. A `pending` or `retrying` message
 * still has attempts to come, however old it is, and is kept.
 */
const FINAL: WebhookMessageState[] = ['delivered', 'failed', 'stopped'];

/** RETENTION_WEBHOOK_LOG_DAYS, for the attempts of the delivery log. */
export class WebhookAttemptRetention implements SweepTask {
  readonly kind = 'webhook_attempts';
  private readonly attempts;

  constructor(
    db: Db,
    private readonly afterMs: number,
    private readonly batch: number,
  ) {
    this.attempts = db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts);
  }

  async run(now: Date): Promise<number> {
    const due = await this.attempts
      .find({ attempted_at: { $lt: before(now, this.afterMs) } }, { projection: { _id: 1 } })
      .limit(this.batch)
      .toArray();
    return deleteByIds(
      this.attempts,
      due.map((attempt) => attempt._id),
    );
  }
}

/** RETENTION_WEBHOOK_LOG_DAYS, for the messages of the delivery log that are no longer being delivered. */
export class WebhookMessageRetention implements SweepTask {
  readonly kind = 'webhook_messages';
  private readonly messages;

  constructor(
    db: Db,
    private readonly afterMs: number,
    private readonly batch: number,
  ) {
    this.messages = db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
  }

  async run(now: Date): Promise<number> {
    const due = await this.messages
      .find({ created_at: { $lt: before(now, this.afterMs) }, state: { $in: FINAL } }, { projection: { _id: 1 } })
      .limit(this.batch)
      .toArray();
    // By id alone: a final state is final, so what was found due stays due.
    return deleteByIds(
      this.messages,
      due.map((message) => message._id),
    );
  }
}

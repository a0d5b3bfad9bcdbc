import type { Db, ObjectId } from 'mongodb';
import type { WebhookMessageState } from '@imagegen/shared';
import {
  COLLECTIONS,
  type UserDocument,
  type WebhookAttemptDocument,
  type WebhookMessageDocument,
} from '@imagegen/core';

/** The worker's side of the delivery log: messages, their attempts, and the secrets that sign them. */
export class WebhookRepository {
  private readonly messages;
  private readonly attempts;
  private readonly users;

  constructor(db: Db) {
    this.messages = db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
    this.attempts = db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts);
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
  }

  findMessage(id: string): Promise<WebhookMessageDocument | null> {
    return this.messages.findOne({ _id: id });
  }

  /**
   * Logs an attempt and moves its message to `state`. A redelivery only ever moves a message to
   * `delivered`, or to `stopped` (a 410 is the receiver's word, whoever asked): its failure must not
   * mark failed a message whose schedule still runs.
   */
  async recordAttempt(attempt: WebhookAttemptDocument, state: WebhookMessageState): Promise<void> {
    await this.attempts.insertOne(attempt);
    const redelivered = attempt.trigger === 'redeliver';
    const set =
      redelivered && state !== 'delivered' && state !== 'stopped'
        ? { updated_at: attempt.attempted_at }
        : { state, next_attempt_at: attempt.next_retry_at, updated_at: attempt.attempted_at };
    await this.messages.updateOne({ _id: attempt.message_id }, { $set: set, $inc: { attempts: 1 } });
  }

  /**
   * Messages still to be sent whose attempt was due before `before`, most overdue first: their
   * job should have run by then (LostWebhooks).
   */
  overdue(before: Date, limit: number): Promise<WebhookMessageDocument[]> {
    return this.messages
      .find({ state: { $in: ['pending', 'retrying'] }, next_attempt_at: { $lt: before } })
      .sort({ next_attempt_at: 1 })
      .limit(limit)
      .toArray();
  }

  /** Ends a message whose job failed for good before its attempt could be logged. */
  async markFailed(id: string): Promise<void> {
    await this.messages.updateOne(
      { _id: id, state: { $in: ['pending', 'retrying'] } },
      { $set: { state: 'failed', next_attempt_at: null, updated_at: new Date() } },
    );
  }

  /** The secrets that sign a delivery now: the current one, and the previous one while it overlaps. */
  async signingSecrets(userId: ObjectId, now: Date): Promise<string[]> {
    const user = await this.users.findOne({ _id: userId }, { projection: { webhook_secret: 1 } });
    if (!user?.webhook_secret) return [];
    const { current, previous, previous_expires_at } = user.webhook_secret;
    return previous && previous_expires_at && previous_expires_at > now ? [current, previous] : [current];
  }
}

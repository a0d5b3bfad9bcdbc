import type { Db, ObjectId } from 'mongodb';
import { COLLECTIONS, type WebhookAttemptDocument, type WebhookMessageDocument } from '@imagegen/core';

/** The most attempts one listing shows; redeliveries can make a message's log grow without end. */
export const ATTEMPTS_SHOWN = 100;

/** Reads of the delivery log the worker writes. */
export class WebhookDeliveryRepository {
  private readonly messages;
  private readonly attempts;

  constructor(db: Db) {
    this.messages = db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages);
    this.attempts = db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts);
  }

  messagesOf(generationId: ObjectId): Promise<WebhookMessageDocument[]> {
    return this.messages.find({ generation_id: generationId }).sort({ created_at: -1, _id: -1 }).toArray();
  }

  attemptsOf(generationId: ObjectId): Promise<WebhookAttemptDocument[]> {
    return this.attempts
      .find({ generation_id: generationId })
      .sort({ attempted_at: -1, _id: -1 })
      .limit(ATTEMPTS_SHOWN)
      .toArray();
  }
}

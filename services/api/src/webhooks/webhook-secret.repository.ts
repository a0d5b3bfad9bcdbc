import { ObjectId, type Db } from 'mongodb';
import { COLLECTIONS, type UserDocument, type WebhookSecretDocument } from '@imagegen/shared';

/** Users' webhook signing secrets, kept on the user document. */
export class WebhookSecretRepository {
  private readonly users;

  constructor(db: Db) {
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
  }

  /** The user's secret, set to `initial` first if there was none; null when the user is gone. */
  async getOrCreate(userId: ObjectId, initial: string): Promise<WebhookSecretDocument | null> {
    const created: WebhookSecretDocument = {
      current: initial,
      created_at: new Date(),
      previous: null,
      previous_expires_at: null,
    };
    // Conditional on there being none, so two first requests at once agree on one secret.
    await this.users.updateOne(
      { _id: userId, webhook_secret: { $exists: false } },
      { $set: { webhook_secret: created } },
    );
    const user = await this.users.findOne({ _id: userId }, { projection: { webhook_secret: 1 } });
    return user?.webhook_secret ?? null;
  }

  /** Replaces `expected` by `next`, keeping `expected` as the previous secret; false if it was no longer current. */
  async rotate(userId: ObjectId, expected: string, next: string, previousExpiresAt: Date): Promise<boolean> {
    const rotated: WebhookSecretDocument = {
      current: next,
      created_at: new Date(),
      previous: expected,
      previous_expires_at: previousExpiresAt,
    };
    const result = await this.users.updateOne(
      { _id: userId, 'webhook_secret.current': expected },
      { $set: { webhook_secret: rotated } },
    );
    return result.modifiedCount === 1;
  }
}

import type { Db, ObjectId } from 'mongodb';
import { COLLECTIONS, type UserDocument, type WebhookSecretDocument } from '@imagegen/core';

/** Users' webhook signing secrets, kept on the user document. */
export class WebhookSecretRepository {
  private readonly users;

  constructor(db: Db) {
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
  }

  /**
   * The user's secret, set to `initial` first if there was none (accounts made before webhooks
   * existed; new ones get theirs at sign-up); null when the user is gone.
   */
  async getOrCreate(userId: ObjectId, initial: WebhookSecretDocument): Promise<WebhookSecretDocument | null> {
    await this.createIfMissing(userId, initial);
    const user = await this.users.findOne({ _id: userId }, { projection: { webhook_secret: 1 } });
    return user?.webhook_secret ?? null;
  }

  /**
   * Sets `initial` if the user has no secret yet: one conditional write, nothing read back;
   * conditional on there being none, so two first requests at once agree on one secret.
   */
  async createIfMissing(userId: ObjectId, initial: WebhookSecretDocument): Promise<void> {
    await this.users.updateOne(
      { _id: userId, webhook_secret: { $exists: false } },
      { $set: { webhook_secret: initial } },
    );
  }

  /** Stores `next` if the current secret is still `expected`; false when another rotation came first. */
  async rotate(userId: ObjectId, expected: string, next: WebhookSecretDocument): Promise<boolean> {
    const result = await this.users.updateOne(
      { _id: userId, 'webhook_secret.current': expected },
      { $set: { webhook_secret: next } },
    );
    return result.modifiedCount === 1;
  }
}

import { createHash } from 'node:crypto';
import type { Db, ObjectId } from 'mongodb';
import { Claims, COLLECTIONS, type UserDocument, type WebhookSecretDocument } from '@imagegen/core';

/** Users' webhook signing secrets, kept on the user document. */
export class WebhookSecretRepository {
  private readonly users;
  private readonly claims: Claims;

  constructor(db: Db) {
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
    this.claims = new Claims(db);
  }

  /**
   * Sets `initial` if the user has no secret yet (accounts made before webhooks existed; new ones
   * get theirs at sign-up), and answers the secret in effect: of two first
   * requests at once, one claims the user's first secret (see `Claims`) and writes it, and the
   * other answers the winner's, so both agree on one. Null when the user is gone.
   */
  async createIfMissing(userId: ObjectId, initial: WebhookSecretDocument): Promise<WebhookSecretDocument | null> {
    const user = await this.users.findOne({ _id: userId }, { projection: { webhook_secret: 1 } });
    if (!user || user.webhook_secret) return user?.webhook_secret ?? null;
    const key = `webhook-secret:${userId.toHexString()}:first`;
    const made = await this.claims.write(
      key,
      { secret: initial },
      async ({ secret }) => {
        const { modifiedCount } = await this.users.updateOne(
          { _id: userId, webhook_secret: { $exists: false } },
          { $set: { webhook_secret: secret } },
        );
        return modifiedCount === 1;
      },
      { secret: true },
    );
    if (made) return initial;
    // The winner's: in its claim until written (see `Claims.write`), then on the account.
    const claim = await this.claims.find(key);
    const claimed = claim?.data.secret as WebhookSecretDocument | undefined;
    return (
      claimed ??
      (await this.users.findOne({ _id: userId }, { projection: { webhook_secret: 1 } }))?.webhook_secret ??
      null
    );
  }

  /** Stores `next` if the current secret is still `expected`; false when another rotation came first. */
  rotate(userId: ObjectId, expected: string, next: WebhookSecretDocument): Promise<boolean> {
    // The key names the secret rotated away from by its digest: the claims log is no place for a secret.
    const from = createHash('sha256').update(expected).digest('base64url');
    return this.claims.write(
      `webhook-secret:${userId.toHexString()}:${from}`,
      { next },
      async (data) => {
        const { modifiedCount } = await this.users.updateOne(
          { _id: userId, 'webhook_secret.current': expected },
          { $set: { webhook_secret: data.next } },
        );
        return modifiedCount === 1;
      },
      { secret: true },
    );
  }
}

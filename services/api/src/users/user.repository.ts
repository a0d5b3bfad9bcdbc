import { ObjectId, type Db } from 'mongodb';
import type { UserRole } from '@imagegen/shared';
import { createHash } from 'node:crypto';
import { Claims, COLLECTIONS, isDuplicateKey, type UserDocument } from '@imagegen/core';
import { freshWebhookSecret } from '../webhooks/webhook-secret';

export interface NewUser {
  email: string;
  name: string;
  password_hash: string;
  role: UserRole;
}

/**
 * What a change of role or password sets besides: every token and session issued before is
 * revoked, and the webhook secret is replaced with no overlap (whoever held the account before
 * may have read it, and must not be able to sign as it).
 */
function revokedAll(now: Date): Pick<UserDocument, 'tokens_valid_after' | 'webhook_secret'> {
  return { tokens_valid_after: now, webhook_secret: freshWebhookSecret(now) };
}

export class UserRepository {
  private readonly users;
  private readonly claims: Claims;

  constructor(db: Db) {
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
    this.claims = new Claims(db);
  }

  findByEmail(email: string): Promise<UserDocument | null> {
    return this.users.findOne({ email });
  }

  findById(id: ObjectId): Promise<UserDocument | null> {
    return this.users.findOne({ _id: id });
  }

  /** When the account's tokens start to count (ms; 0: all of them), or null when there is no account. */
  async tokensValidAfter(id: ObjectId): Promise<number | null> {
    const user = await this.users.findOne({ _id: id }, { projection: { tokens_valid_after: 1 } });
    return user ? (user.tokens_valid_after?.getTime() ?? 0) : null;
  }

  /**
   * The user with this role, or null when there is none of this id. A change revokes what the
   * account held; setting the role it already has changes nothing.
   */
  async setRole(id: ObjectId, role: UserRole): Promise<UserDocument | null> {
    const changed = await this.users.findOneAndUpdate(
      { _id: id, role: { $ne: role } },
      { $set: { role, ...revokedAll(new Date()) } },
      { returnDocument: 'after' },
    );
    return changed ?? this.findById(id);
  }

  /**
   * Makes the account an admin with this password, revoking what it held, if its password hash is
   * still `expectedHash` (so two instances starting at once do not revoke each other's work);
   * null when it changed meanwhile.
   */
  async setAdminCredentials(id: ObjectId, expectedHash: string, passwordHash: string): Promise<UserDocument | null> {
    let updated: UserDocument | null = null;
    // One instance changes the credentials from `expectedHash` (see `Claims`); the key names the
    // hash by its digest, and the claim, which holds a webhook secret, goes once written.
    const from = createHash('sha256').update(expectedHash).digest('base64url');
    const set = { role: 'admin' as const, password_hash: passwordHash, ...revokedAll(new Date()) };
    await this.claims.write(
      `admin-credentials:${id.toHexString()}:${from}`,
      { set },
      async (data) => {
        updated = await this.users.findOneAndUpdate(
          { _id: id, password_hash: expectedHash },
          { $set: data.set },
          { returnDocument: 'after' },
        );
        return updated !== null;
      },
      { secret: true },
    );
    return updated;
  }

  /**
   * Inserts the user, with a webhook signing secret of their own, or returns null when the email is
   * taken (the unique index decides, not a prior read).
   */
  async insert(user: NewUser): Promise<UserDocument | null> {
    const now = new Date();
    const doc: UserDocument = {
      _id: new ObjectId(),
      ...user,
      webhook_secret: freshWebhookSecret(now),
      created_at: now,
    };
    try {
      await this.users.insertOne(doc);
      return doc;
    } catch (err) {
      if (isDuplicateKey(err)) return null;
      throw err;
    }
  }
}

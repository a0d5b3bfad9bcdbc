import { ObjectId, type Db } from 'mongodb';
import type { UserQuota, UserQuotaUpdate, UserRole } from '@imagegen/shared';
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

/**
 * The claim on changing an account's password hash away from `from` (see `Claims`), named by the
 * hash's digest: the claims log is no place for a hash. A new admin password and a hash remade at
 * another cost take the same key, so of the two only one is made from a given hash.
 */
function passwordChangeKey(id: ObjectId, from: string): string {
  return `password:${id.toHexString()}:${createHash('sha256').update(from).digest('base64url')}`;
}

/** A user's record with the quota overrides an admin set; a field absent or null: the default. */
export type UserWithQuota = UserDocument & { quota?: Partial<UserQuota> };

/** The overrides a record holds, every field named. */
export const quotaOf = (user: Pick<UserWithQuota, 'quota'> | null): UserQuota => ({
  images_per_day: user?.quota?.images_per_day ?? null,
  images_per_month: user?.quota?.images_per_month ?? null,
});

export class UserRepository {
  private readonly users;
  private readonly claims: Claims;

  constructor(db: Db) {
    this.users = db.collection<UserWithQuota>(COLLECTIONS.users);
    this.claims = new Claims(db);
  }

  findByEmail(email: string): Promise<UserDocument | null> {
    return this.users.findOne({ email });
  }

  findById(id: ObjectId): Promise<UserWithQuota | null> {
    return this.users.findOne({ _id: id });
  }

  /** The email of each of `ids` that has an account, by hex id. */
  async emailsOf(ids: ObjectId[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const users = await this.users.find({ _id: { $in: ids } }, { projection: { email: 1 } }).toArray();
    return new Map(users.map((user) => [user._id.toHexString(), user.email]));
  }

  /** The user's quota overrides (none for an unknown user). */
  async quotaOverrides(id: ObjectId): Promise<UserQuota> {
    return quotaOf(await this.users.findOne({ _id: id }, { projection: { quota: 1 } }));
  }

  /** Sets the overrides `update` names (null: the default again); the user as updated, or null when there is none. */
  setQuota(id: ObjectId, update: UserQuotaUpdate): Promise<UserWithQuota | null> {
    const set = Object.fromEntries(Object.entries(update).map(([field, value]) => [`quota.${field}`, value]));
    return this.users.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' });
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
  async setRole(id: ObjectId, role: UserRole): Promise<UserWithQuota | null> {
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
    // One instance changes the credentials from `expectedHash`; the claim, which holds a webhook
    // secret, goes once written.
    const set = { role: 'admin' as const, password_hash: passwordHash, ...revokedAll(new Date()) };
    await this.claims.write(
      passwordChangeKey(id, expectedHash),
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
   * Replaces the account's password hash `from` with `to`, a hash of the same password at another
   * cost; false when the hash changed meanwhile (a new password, or another sign-in's rehash).
   */
  rehash(id: ObjectId, from: string, to: string): Promise<boolean> {
    return this.claims.write(
      passwordChangeKey(id, from),
      { to },
      async (data) => {
        const { modifiedCount } = await this.users.updateOne(
          { _id: id, password_hash: from },
          { $set: { password_hash: data.to } },
        );
        return modifiedCount === 1;
      },
      { secret: true },
    );
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

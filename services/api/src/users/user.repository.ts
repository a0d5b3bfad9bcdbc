import { ObjectId, type Db } from 'mongodb';
import { COLLECTIONS, isDuplicateKey, type UserDocument, type UserRole } from '@imagegen/shared';
import { freshWebhookSecret } from '../webhooks/webhook-secret';

export interface NewUser {
  email: string;
  name: string;
  password_hash: string;
  role: UserRole;
}

export class UserRepository {
  private readonly users;

  constructor(db: Db) {
    this.users = db.collection<UserDocument>(COLLECTIONS.users);
  }

  findByEmail(email: string): Promise<UserDocument | null> {
    return this.users.findOne({ email });
  }

  findById(id: ObjectId): Promise<UserDocument | null> {
    return this.users.findOne({ _id: id });
  }

  async exists(id: ObjectId): Promise<boolean> {
    return (await this.users.findOne({ _id: id }, { projection: { _id: 1 } })) !== null;
  }

  /** The updated user, or null when there is none of this id. */
  setRole(id: ObjectId, role: UserRole): Promise<UserDocument | null> {
    return this.users.findOneAndUpdate({ _id: id }, { $set: { role } }, { returnDocument: 'after' });
  }

  /** Makes the account of `email` an admin with this password, creating it if there is none. */
  async upsertAdmin(email: string, passwordHash: string): Promise<UserDocument> {
    const updated = await this.users.findOneAndUpdate(
      { email },
      { $set: { role: 'admin', password_hash: passwordHash } },
      { returnDocument: 'after' },
    );
    if (updated) return updated;
    const created = await this.insert({ email, name: 'Administrator', password_hash: passwordHash, role: 'admin' });
    // Another API instance starting at the same moment made it first.
    return created ?? this.upsertAdmin(email, passwordHash);
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

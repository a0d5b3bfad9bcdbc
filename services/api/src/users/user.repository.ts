import { MongoServerError, ObjectId, type Db } from 'mongodb';
import { COLLECTIONS, type UserDocument, type UserRole } from '@imagegen/shared';
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
      if (err instanceof MongoServerError && err.code === 11000) return null;
      throw err;
    }
  }
}

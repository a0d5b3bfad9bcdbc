import { ObjectId, type Binary, type Db } from 'mongodb';
import type { UserRole } from './auth';
import type { GenerationSettings, GenerationStatus, ImageMeta } from './generation';

/** Collection names both services use. */
export const COLLECTIONS = { users: 'users', generations: 'generations', images: 'images' } as const;

export interface UserDocument {
  _id: ObjectId;
  email: string;
  name: string;
  password_hash: string;
  role: UserRole;
  created_at: Date;
}

export interface GenerationDocument {
  _id: ObjectId;
  user_id: ObjectId;
  prompt: string;
  settings: GenerationSettings;
  status: GenerationStatus;
  error: string | null;
  attempts: number;
  image: ImageMeta | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

/** A new `pending` generation as it is first written. */
export function newGeneration(userId: ObjectId, prompt: string, settings: GenerationSettings): GenerationDocument {
  const now = new Date();
  return {
    _id: new ObjectId(),
    user_id: userId,
    prompt,
    settings,
    status: 'pending',
    error: null,
    attempts: 0,
    image: null,
    created_at: now,
    started_at: null,
    completed_at: null,
    updated_at: now,
  };
}

/** Image bytes live apart from the generation, under the generation's id, so lists stay light. */
export interface ImageDocument extends ImageMeta {
  _id: ObjectId;
  user_id: ObjectId;
  data: Binary;
  created_at: Date;
}

/** Creates the indexes the queries rely on. Idempotent; both services call it at start. */
export async function ensureIndexes(db: Db): Promise<void> {
  await Promise.all([
    db.collection(COLLECTIONS.users).createIndex({ email: 1 }, { unique: true, name: 'email_unique' }),
    db.collection(COLLECTIONS.generations).createIndex({ user_id: 1, _id: -1 }, { name: 'user_newest' }),
    db
      .collection(COLLECTIONS.generations)
      .createIndex({ user_id: 1, status: 1, _id: -1 }, { name: 'user_status_newest' }),
  ]);
}

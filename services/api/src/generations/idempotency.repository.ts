import { createHash } from 'node:crypto';
import type { Db, ObjectId } from 'mongodb';
import { IDEMPOTENCY_WINDOW_MS } from '@imagegen/shared';
import { COLLECTIONS, isDuplicateKey, type IdempotencyKeyDocument } from '@imagegen/core';

export type Claim = { claimed: true } | { claimed: false; existing: IdempotencyKeyDocument };

/**
 * `Idempotency-Key`s, per user. The first request with a key claims it by inserting under a unique
 * id, so of two concurrent requests exactly one creates the generation.
 */
export class IdempotencyRepository {
  private readonly keys;

  constructor(db: Db) {
    this.keys = db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys);
  }

  async claim(userId: ObjectId, key: string, requestHash: string, generationId: ObjectId): Promise<Claim> {
    const _id = keyId(userId, key);
    await this.keys.deleteMany({ user_id: userId, created_at: { $lt: new Date(Date.now() - IDEMPOTENCY_WINDOW_MS) } });
    const doc: IdempotencyKeyDocument = {
      _id,
      user_id: userId,
      request_hash: requestHash,
      generation_id: generationId,
      created_at: new Date(),
    };
    try {
      await this.keys.insertOne(doc);
      return { claimed: true };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const existing = await this.keys.findOne({ _id });
    // Gone meanwhile: its creation failed, so the key is free again.
    if (!existing) return this.claim(userId, key, requestHash, generationId);
    return { claimed: false, existing };
  }

  /** Frees a key whose generation could not be created, so that a retry can create it. */
  async release(userId: ObjectId, key: string, generationId: ObjectId): Promise<void> {
    await this.keys.deleteOne({ _id: keyId(userId, key), generation_id: generationId });
  }
}

/** Keys are the client's text: hashed into the id, so any characters and lengths store alike. */
const keyId = (userId: ObjectId, key: string) =>
  `${userId.toHexString()}:${createHash('sha256').update(key).digest('base64url')}`;

import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisScript } from '@imagegen/core';

/** Frees the lock only if it is still this retry's (it may have lapsed and been taken by another). */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Far longer than a retry takes (a few MongoDB and Redis writes); a lock of a stopped process lapses after it. */
const LOCK_MS = 10_000;

/**
 * One retry of a generation at a time, across API instances. The record's conditional update lets
 * only one retry of an ended run through on MongoDB, but FerretDB over SQLite let two racing ones
 * both through (docs/reliability.md): two runs where one was asked for, each counted against the
 * bound on runs. Redis makes the choice atomic whatever the database.
 */
export class RetryLocks {
  private readonly release;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.release = redisScript<number>(redis, 'imagegenReleaseRetryLock', RELEASE_SCRIPT, 1);
  }

  /** The lock's release, or null when another retry of the generation holds it. */
  async acquire(generationId: string): Promise<(() => Promise<void>) | null> {
    const key = `${this.prefix}:retrying:${generationId}`;
    const token = randomBytes(8).toString('hex');
    if ((await this.redis.set(key, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return null;
    return async () => {
      await this.release(key, token);
    };
  }
}

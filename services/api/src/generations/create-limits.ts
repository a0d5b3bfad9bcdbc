import type { Redis } from 'ioredis';
import { ObjectId, type Db } from 'mongodb';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { COLLECTIONS, type GenerationDocument } from '@imagegen/shared';
import { RateLimitedError, ServiceUnavailableError } from '../errors';

export interface CreateLimitPolicy {
  /** Creates a user may make per window. */
  perWindow: number;
  windowSeconds: number;
  /** Generations of a user that may be pending or processing at once. */
  maxInFlight: number;
}

/**
 * Per-user limits on creating generations: a rate counted in Redis (so it holds across API
 * instances) and a cap on generations in flight counted in MongoDB.
 */
export class CreateLimits {
  private readonly rate: RateLimiterRedis;
  private readonly generations;

  constructor(
    redis: Redis,
    prefix: string,
    db: Db,
    private readonly policy: CreateLimitPolicy,
  ) {
    this.rate = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:create-rate`,
      points: policy.perWindow,
      duration: policy.windowSeconds,
      // Fail at once while Redis is away (the error becomes a 503), as the job queue does.
      rejectIfRedisNotReady: true,
    });
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  /** Counts one create against the user's rate; a 429 with Retry-After when it is spent. */
  async consume(userId: string): Promise<void> {
    try {
      await this.rate.consume(userId);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        throw new ServiceUnavailableError(
          'Requests cannot be counted right now (Redis unavailable); retry shortly',
          err,
        );
      }
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new RateLimitedError(
        `Too many generations requested: at most ${this.policy.perWindow} every ${this.policy.windowSeconds} s`,
        seconds,
      );
    }
  }

  /** A 429 when the user already has as many generations pending or processing as allowed. */
  async checkInFlight(userId: string): Promise<void> {
    const inFlight = await this.generations.countDocuments(
      { user_id: new ObjectId(userId), status: { $in: ['pending', 'processing'] } },
      { limit: this.policy.maxInFlight },
    );
    if (inFlight >= this.policy.maxInFlight) {
      throw new RateLimitedError(
        `You have ${inFlight} generations pending or processing, the most allowed; wait for one to end`,
        5,
      );
    }
  }
}

import type { Redis } from 'ioredis';
import type { ObjectId } from 'mongodb';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { isTerminal } from '@imagegen/shared';
import type { InFlightGenerations } from '@imagegen/core';
import { RateLimitedError, ServiceUnavailableError } from '../errors';
import type { GenerationRepository } from './generation.repository';

/** How old (by its id) a generation in a user's in-flight set must be for its record to surely exist. */
const SETTLED_AFTER_MS = 60_000;

export interface CreateLimitPolicy {
  /** Creates a user may make per window. */
  perWindow: number;
  windowSeconds: number;
  /** Generations of a user that may be pending or processing at once. */
  maxInFlight: number;
}

/**
 * Per-user limits on creating generations, both kept in Redis so that they hold across API
 * instances: a rate, and a cap on generations in flight (InFlightGenerations).
 */
export class CreateLimits {
  private readonly rate: RateLimiterRedis;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly generations: GenerationRepository,
    private readonly inFlight: InFlightGenerations,
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

  /**
   * Counts the new generation against the user's cap on generations in flight, or refuses it (429)
   * when the user already has as many pending or processing as allowed. At the cap, the members'
   * records are read: a worker takes an ended generation out of the set just after writing its end
   * (or never, if it stopped in between), and a user who has seen it end may create the next at
   * once. A member with no record is a create still writing it, unless it is too old to be one.
   */
  async reserveInFlight(userId: ObjectId, generationId: ObjectId): Promise<void> {
    const max = this.policy.maxInFlight;
    if ((await this.inFlight.reserve(userId, generationId, max)) === null) return;
    const settled = Date.now() - SETTLED_AFTER_MS;
    const members = await this.inFlight.members(userId);
    const statuses = await this.generations.statusesOf(members);
    const gone = members.filter((id) => {
      const status = statuses.get(id.toHexString());
      return status ? isTerminal(status) : id.getTimestamp().getTime() < settled;
    });
    await this.inFlight.remove(userId, ...gone);
    const size = await this.inFlight.reserve(userId, generationId, max);
    if (size !== null) {
      throw new RateLimitedError(
        `You have ${size} generations pending or processing, the most allowed; wait for one to end`,
        5,
      );
    }
  }

  /** Takes back a reservation whose generation was not created after all. */
  async release(userId: ObjectId, generationId: ObjectId): Promise<void> {
    await this.inFlight.remove(userId, generationId);
  }
}

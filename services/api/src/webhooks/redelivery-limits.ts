import type { RedisClient } from '@imagegen/core';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError, ServiceUnavailableError } from '../errors';

export interface RedeliveryPolicy {
  /** Redeliveries a user may ask for per window, whatever the messages. */
  perUser: number;
  /** Redeliveries of one message per window. */
  perMessage: number;
  windowSeconds: number;
}

/**
 * Limits on redeliveries, counted in Redis so that they hold across API instances. Each
 * redelivery is a signed POST to a URL the user chose: unbounded, a user could turn us into a
 * flood at any receiver, one request per POST.
 */
export class RedeliveryLimits {
  private readonly users: RateLimiterRedis;
  private readonly messages: RateLimiterRedis;

  constructor(
    redis: RedisClient,
    prefix: string,
    private readonly policy: RedeliveryPolicy,
  ) {
    const limiter = (name: string, points: number) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${prefix}:redeliveries-${name}`,
        points,
        duration: policy.windowSeconds,
        // Fail at once while Redis is away (the error becomes a 503), as the job queue does.
        rejectIfRedisNotReady: true,
      });
    this.users = limiter('user', policy.perUser);
    this.messages = limiter('message', policy.perMessage);
  }

  /**
   * Counts one redelivery of the message, against the message and against the user, or refuses
   * it (429 with Retry-After) when either is spent. Each count is atomic in Redis, so when many
   * come at once exactly the limit pass; a point taken from the message for a redelivery the
   * user's count then refuses is given back.
   */
  async consume(userId: string, messageId: string): Promise<void> {
    const { perMessage, perUser, windowSeconds } = this.policy;
    await this.take(this.messages, messageId, `at most ${perMessage} of one message every ${windowSeconds} s`);
    try {
      await this.take(this.users, userId, `at most ${perUser} every ${windowSeconds} s`);
    } catch (err) {
      await this.messages.reward(messageId, 1).catch(() => undefined);
      throw err;
    }
  }

  private async take(limiter: RateLimiterRedis, key: string, limit: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        throw new ServiceUnavailableError(
          'Redeliveries cannot be counted right now (Redis unavailable); retry shortly',
          err,
        );
      }
      throw new RateLimitedError(
        `Too many webhook redeliveries: ${limit}`,
        Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
      );
    }
  }
}

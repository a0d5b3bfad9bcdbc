import type { RedisClient } from '@imagegen/core';
import { redisScript } from '@imagegen/core';
import { RateLimitedError, ServiceUnavailableError } from '../errors';

/**
 * Takes one attempt from every counter, or from none when one of them is spent: the ms until that
 * one's window ends, or 0 when taken. One script, so concurrent attempts (on any API instance)
 * are counted one after another and no more than the limit get through.
 * KEYS: the counters; ARGV[1]: the window in ms; ARGV[1 + i]: the limit of KEYS[i].
 */
const TAKE_SCRIPT = `
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    return math.max(ttl, 1)
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0`;

/** Gives one attempt back to every counter still counting (a window that ended is not revived). */
const GIVE_BACK_SCRIPT = `
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0`;

export interface Counter {
  key: string;
  limit: number;
}

/**
 * Fixed-window attempt counters in Redis, shared by every API instance. An attempt is counted
 * before the work it stands for (checking or hashing a password), so concurrent attempts cannot
 * all pass a check made before any of them is counted; work that did not happen is given back.
 */
export class AttemptCounters {
  private readonly takeScript;
  private readonly giveBackScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly windowMs: number,
  ) {
    // Variadic keys: each call passes how many counters it names.
    this.takeScript = redisScript<number>(redis, 'imagegenTakeAttempt', TAKE_SCRIPT);
    this.giveBackScript = redisScript<number>(redis, 'imagegenGiveBackAttempt', GIVE_BACK_SCRIPT);
  }

  /** Counts one attempt against every counter, or throws `refusal` (a 429) when one is spent. */
  async take(counters: Counter[], refusal: string): Promise<void> {
    const keys = counters.map((c) => c.key);
    const waitMs = await this.counted(() =>
      this.takeScript(keys.length, ...keys, this.windowMs, ...counters.map((c) => c.limit)),
    );
    if (waitMs > 0) throw new RateLimitedError(refusal, Math.max(1, Math.ceil(waitMs / 1000)));
  }

  async giveBack(...keys: string[]): Promise<void> {
    await this.counted(() => this.giveBackScript(keys.length, ...keys));
  }

  /** Starts the counter over. */
  async clear(key: string): Promise<void> {
    await this.counted(() => this.redis.del(key));
  }

  private async counted<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw new ServiceUnavailableError('Attempts cannot be counted right now (Redis unavailable); retry shortly', err);
    }
  }
}

import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@imagegen/core';
import { redisScript } from '@imagegen/core';

/**
 * Takes a slot unless the user holds `max` live ones; lapsed slots (of an instance that stopped
 * without giving them back) are dropped first. Redis's clock, so that instances' clocks never
 * disagree on what has lapsed. 1 when taken, else 0.
 */
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** Extends the leases of the slots still held (XX: one dropped meanwhile is not taken again). */
const RENEW_SCRIPT = `
local t = redis.call('TIME')
local until_ = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0`;

/** How long a slot outlives the instance holding it if that instance dies without giving it back. */
const LEASE_MS = 60_000;

/**
 * Each user's open event streams, across API instances: one Redis sorted set per user whose
 * members are the slots of open streams, scored by when their lease lapses. The instance holding
 * a slot gives it back when its stream closes, however it closes, and renews the leases of those
 * it still holds; a slot of an instance that died lapses on its own, so no user stays locked out.
 */
export class StreamSlots {
  /** Slots this instance holds, by user key. */
  private readonly held = new Map<string, Set<string>>();
  private readonly instance = randomBytes(6).toString('hex');
  private taken = 0;
  private renewal: NodeJS.Timeout | null = null;
  private readonly takeScript;
  private readonly renewScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly perUser: number,
  ) {
    this.takeScript = redisScript<number>(redis, 'imagegenTakeStreamSlot', TAKE_SCRIPT, 1);
    this.renewScript = redisScript<number>(redis, 'imagegenRenewStreamSlots', RENEW_SCRIPT, 1);
  }

  /** A slot for one more stream of the user's, and the function that gives it back; null at the cap. */
  async take(userId: string): Promise<(() => Promise<void>) | null> {
    const key = `${this.prefix}:event-streams:${userId}`;
    const slot = `${this.instance}:${++this.taken}`;
    if ((await this.takeScript(key, slot, this.perUser, LEASE_MS)) !== 1) return null;
    const slots = this.held.get(key) ?? new Set();
    slots.add(slot);
    this.held.set(key, slots);
    this.renewal ??= setInterval(() => void this.renew(), LEASE_MS / 3).unref();
    return async () => {
      slots.delete(slot);
      if (slots.size === 0) this.held.delete(key);
      if (this.held.size === 0 && this.renewal) {
        clearInterval(this.renewal);
        this.renewal = null;
      }
      await this.redis.zrem(key, slot);
    };
  }

  /** One call per user with open streams; a failure is made up for by the next (a lease is 3 renewals long). */
  private async renew(): Promise<void> {
    await Promise.all(
      [...this.held].map(([key, slots]) => this.renewScript(key, LEASE_MS, ...slots).catch(() => undefined)),
    );
  }
}

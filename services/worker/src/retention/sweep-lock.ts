import { randomUUID } from 'node:crypto';
import type { RedisClient } from '@imagegen/core';
import { redisScript } from '@imagegen/core';

/**
 * Longest a pass holds the sweep: a worker that died mid-pass frees it after this. Passes take
 * milliseconds on MongoDB, where every sweep query has its index, and can take many minutes on
 * FerretDB, which scans.
 */
export const PASS_LEASE_MS = 3_600_000;

/**
 * Claims this interval's pass unless it was run already or another pass still runs; on a claim,
 * it holds the sweep until released. A pass still running leaves the interval unclaimed, so that
 * a worker may run it once that pass is over.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Frees the sweep, only if this pass still holds it (its lease may have run out and been taken). */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** One pass per interval across all workers, and never two at once. */
export class SweepLock {
  private readonly claimScript;
  private readonly releaseScript;
  private readonly runningKey: string;

  constructor(
    redis: RedisClient,
    private readonly queuePrefix: string,
    private readonly intervalMs: number,
  ) {
    this.claimScript = redisScript<number>(redis, 'imagegenClaimSweep', CLAIM_SCRIPT, 2);
    this.releaseScript = redisScript<number>(redis, 'imagegenReleaseSweep', RELEASE_SCRIPT, 1);
    this.runningKey = `${queuePrefix}:sweeper:running`;
  }

  /**
   * The pass of the interval `now` falls in, for this worker alone: a function that releases it,
   * or null. The interval's key outlives its interval, so that a worker whose clock lags a little
   * cannot run it again.
   */
  async claim(now: Date): Promise<(() => Promise<void>) | null> {
    const interval = Math.floor(now.getTime() / this.intervalMs);
    const intervalKey = `${this.queuePrefix}:sweeper:pass:${interval}`;
    const token = randomUUID();
    const claimed = await this.claimScript(intervalKey, this.runningKey, token, 2 * this.intervalMs, PASS_LEASE_MS);
    if (claimed !== 1) return null;
    return async () => void (await this.releaseScript(this.runningKey, token));
  }
}

import type { RedisClient } from './connections';

/** How many recent runs the average covers. */
const KEPT = 50;

/**
 * The duration of recent generation runs (start to completion), which workers record and the API
 * reads to estimate when a pending generation starts.
 */
export class RunTimes {
  /** A Redis list of the latest durations in ms, newest first; readers may fetch it in their own pipeline. */
  readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = `${prefix}:generation-run-ms`;
  }

  async record(ms: number): Promise<void> {
    await this.redis
      .multi()
      .lpush(this.key, Math.round(ms))
      .ltrim(this.key, 0, KEPT - 1)
      .exec();
  }

  /** The mean of the recent runs in ms, or null before any has been recorded. */
  async average(): Promise<number | null> {
    return RunTimes.mean(await this.redis.lrange(this.key, 0, -1));
  }

  /** The mean of the list's entries as `LRANGE key 0 -1` returns them, or null when it is empty. */
  static mean(entries: string[]): number | null {
    const values = entries.map(Number).filter(Number.isFinite);
    return values.length ? values.reduce((sum, ms) => sum + ms, 0) / values.length : null;
  }
}

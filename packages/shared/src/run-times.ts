import type { Redis } from 'ioredis';

/** How many recent runs the average covers. */
const KEPT = 50;

/**
 * The duration of recent generation runs (start to completion), which workers record and the API
 * reads to estimate when a pending generation starts.
 */
export class RunTimes {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
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
    const values = (await this.redis.lrange(this.key, 0, -1)).map(Number).filter(Number.isFinite);
    return values.length ? values.reduce((sum, ms) => sum + ms, 0) / values.length : null;
  }
}

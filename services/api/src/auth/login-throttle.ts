import type { Redis } from 'ioredis';
import { RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError, ServiceUnavailableError } from '../errors';

export interface LoginThrottlePolicy {
  /** Failed sign-ins per account (email) per window before the account's sign-ins are refused. */
  perAccount: number;
  /** Failed sign-ins from one IP address per window, whatever the accounts. */
  perIp: number;
  windowSeconds: number;
}

/**
 * Counts failed sign-ins per account and per IP in Redis (OWASP: throttle both). Accounts are
 * keyed by the email as typed, existing or not, and the refusal reads the same either way, so it
 * tells nothing about which accounts exist.
 */
export class LoginThrottle {
  private readonly accounts: RateLimiterRedis;
  private readonly ips: RateLimiterRedis;

  constructor(redis: Redis, prefix: string, policy: LoginThrottlePolicy) {
    const limiter = (name: string, points: number) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${prefix}:login-failures-${name}`,
        points,
        duration: policy.windowSeconds,
        rejectIfRedisNotReady: true,
      });
    this.accounts = limiter('account', policy.perAccount);
    this.ips = limiter('ip', policy.perIp);
  }

  /** Refuses before the password is even checked when either count is spent. */
  async check(email: string, ip: string): Promise<void> {
    const [account, address] = await this.counted(() => Promise.all([this.accounts.get(email), this.ips.get(ip)]));
    const spent = (res: RateLimiterRes | null, points: number) => res !== null && res.consumedPoints >= points;
    const waits = [
      spent(account, this.accounts.points) ? account : null,
      spent(address, this.ips.points) ? address : null,
    ].flatMap((res) => (res ? [Math.ceil(res.msBeforeNext / 1000)] : []));
    if (waits.length > 0) {
      throw new RateLimitedError('Too many failed sign-ins; try again later', Math.max(1, ...waits));
    }
  }

  async failed(email: string, ip: string): Promise<void> {
    // Counting past the limit is not an error here; `check` refuses the next attempt.
    await this.counted(() => Promise.all([this.accounts.penalty(email, 1), this.ips.penalty(ip, 1)]));
  }

  /** A success clears the account's failures (not the IP's: one good password must not reset a spray). */
  async succeeded(email: string): Promise<void> {
    await this.counted(() => this.accounts.delete(email));
  }

  private async counted<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw new ServiceUnavailableError('Sign-ins cannot be counted right now (Redis unavailable); retry shortly', err);
    }
  }
}

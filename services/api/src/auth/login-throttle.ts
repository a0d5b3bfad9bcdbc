import type { RedisClient } from '@imagegen/core';
import { AttemptCounters } from './attempt-counters';
import { addressKey } from './client-address';

export interface LoginThrottlePolicy {
  /** Failed sign-ins per account (email) from one address per window, before that pair is refused. */
  perAccount: number;
  /** Failed sign-ins from one IP address per window, whatever the accounts. */
  perIp: number;
  windowSeconds: number;
}

const REFUSAL = 'Too many failed sign-ins; try again later';

/**
 * Counts sign-ins per (account, address) and per address in Redis (OWASP: throttle both). The
 * account's count is kept per address so that guessing from one address locks that address out
 * of the account, not the account's owner everywhere (anyone could otherwise lock any account,
 * the admin's included). Accounts are keyed by the email as typed, existing or not, and the
 * refusal reads the same either way, so it tells nothing about which accounts exist.
 *
 * An attempt is counted before its password is checked (`take`), and given back when the check
 * did not happen: concurrent guesses cannot all pass before any of them is counted, so at most the
 * limit of passwords is ever checked per window.
 */
export class LoginThrottle {
  private readonly counters: AttemptCounters;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly policy: LoginThrottlePolicy,
  ) {
    this.counters = new AttemptCounters(redis, policy.windowSeconds * 1000);
  }

  /** Counts an attempt, or refuses it (429) before the password is even checked when a count is spent. */
  async take(email: string, ip: string | undefined): Promise<void> {
    const [account, address] = this.keys(email, ip);
    await this.counters.take(
      [
        { key: account, limit: this.policy.perAccount },
        { key: address, limit: this.policy.perIp },
      ],
      REFUSAL,
    );
  }

  /**
   * The right password: the pair's failures start over, and the attempt is given back to the
   * address (whose failures are not cleared: one good password must not reset a spray).
   */
  async succeeded(email: string, ip: string | undefined): Promise<void> {
    const [account, address] = this.keys(email, ip);
    await Promise.all([this.counters.clear(account), this.counters.giveBack(address)]);
  }

  /** The password was never checked (the hashing queue was full, a dependency failed). */
  async notChecked(email: string, ip: string | undefined): Promise<void> {
    await this.counters.giveBack(...this.keys(email, ip));
  }

  private keys(email: string, ip: string | undefined): [account: string, address: string] {
    const address = addressKey(ip);
    return [`${this.prefix}:sign-ins:account:${address}:${email}`, `${this.prefix}:sign-ins:address:${address}`];
  }
}

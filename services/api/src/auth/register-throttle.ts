import type { RedisClient } from '@imagegen/core';
import { AttemptCounters } from './attempt-counters';
import { addressKey } from './client-address';

export interface RegisterThrottlePolicy {
  /** Accounts one address may create per window (registration and auto-registering sign-ins). */
  perIp: number;
  windowSeconds: number;
}

/**
 * Per-address limit on creating accounts. Each one costs a password hash (128 MiB and a libuv
 * thread for ~0.7 s), so unthrottled registrations let one client starve everyone's sign-ins.
 */
export class RegisterThrottle {
  private readonly counters: AttemptCounters;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly policy: RegisterThrottlePolicy,
  ) {
    this.counters = new AttemptCounters(redis, policy.windowSeconds * 1000);
  }

  /** Counts an account about to be created, or refuses it (429) when the address has made its share. */
  async take(ip: string | undefined): Promise<void> {
    await this.counters.take(
      [{ key: this.key(ip), limit: this.policy.perIp }],
      'Too many accounts created from this address; try again later',
    );
  }

  /** The account was not created and no password hashed for it (the hashing queue was full). */
  async notCreated(ip: string | undefined): Promise<void> {
    await this.counters.giveBack(this.key(ip));
  }

  private key(ip: string | undefined): string {
    return `${this.prefix}:registrations:address:${addressKey(ip)}`;
  }
}

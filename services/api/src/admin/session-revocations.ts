import type { RedisClient } from '@imagegen/core';
import { ServiceUnavailableError } from '../errors';

/**
 * Dashboard sessions ended by a logout, by token id, in Redis so that every API instance refuses
 * them. An entry lasts as long as the session could have: after that its token has expired anyway.
 */
export class SessionRevocations {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async revoke(jti: string, forSeconds: number): Promise<void> {
    await this.reached(() => this.redis.set(this.key(jti), '1', 'EX', Math.max(1, forSeconds)));
  }

  async revoked(jti: string): Promise<boolean> {
    return (await this.reached(() => this.redis.exists(this.key(jti)))) === 1;
  }

  // Refused while Redis is away (503): a session that cannot be checked is not let in.
  private async reached<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw new ServiceUnavailableError('Sessions cannot be checked right now (Redis unavailable); retry shortly', err);
    }
  }

  private key(jti: string): string {
    return `${this.prefix}:admin-sessions-ended:${jti}`;
  }
}

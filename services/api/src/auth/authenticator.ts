import { LRUCache } from 'lru-cache';
import { ObjectId } from 'mongodb';
import type { TokenClaims } from '@imagegen/shared';
import { UnauthorizedError } from '../errors';
import type { UserRepository } from '../users/user.repository';
import type { TokenService } from './token.service';

/** Accounts remembered as existing at once; past it the least recently seen are forgotten. */
const MAX_REMEMBERED = 10_000;

/**
 * Checks a token and that its user still exists: a signature outlives the account it was issued
 * to, and a deleted user's token must open nothing. An account found is taken to exist for
 * `accountCacheMs` more, so a client's stream of requests costs one read by primary key per that
 * time rather than one per request; a deleted account's tokens stop working within it.
 */
export class Authenticator {
  private readonly existing: LRUCache<string, true> | null;

  constructor(
    private readonly tokens: TokenService,
    private readonly users: UserRepository,
    accountCacheMs: number,
  ) {
    this.existing = accountCacheMs > 0 ? new LRUCache({ max: MAX_REMEMBERED, ttl: accountCacheMs }) : null;
  }

  async verify(token: string): Promise<TokenClaims> {
    const claims = this.tokens.verify(token);
    if (this.existing?.has(claims.sub)) return claims;
    // The same answer as a bad signature, so a token does not tell whether its account was deleted.
    if (!(await this.users.exists(new ObjectId(claims.sub)))) throw new UnauthorizedError('Invalid token');
    this.existing?.set(claims.sub, true);
    return claims;
  }
}

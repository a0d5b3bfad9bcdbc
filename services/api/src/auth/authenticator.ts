import { LRUCache } from 'lru-cache';
import { ObjectId } from 'mongodb';
import { UnauthorizedError } from '../errors';
import type { UserRepository } from '../users/user.repository';
import { issuedBefore, type TokenService, type VerifiedClaims } from './token.service';

/** Accounts remembered at once; past it the least recently seen are forgotten. */
const MAX_REMEMBERED = 10_000;

/**
 * Checks a token, that its user still exists, and that the user's tokens were not revoked since it
 * was issued (a change of role or password revokes them): a signature outlives both. An account
 * read is remembered, with when its tokens start to count, for `accountCacheMs`, so a client's
 * stream of requests costs one read by primary key per that time rather than one per request; a
 * deleted account's tokens, and revoked ones, stop working within it.
 */
export class Authenticator {
  /** Account id → its tokens count from this time (ms; 0: all). */
  private readonly validAfter: LRUCache<string, number> | null;
  /**
   * Token → its claims, once its signature was checked, until it expires: a client sends the same
   * token with each request, and checking it (an HMAC, JSON, the claims' schema) was a
   * measurable share of a create. Only signed tokens get in, so no one can fill it with junk.
   */
  private readonly verified = new LRUCache<string, VerifiedClaims>({ max: MAX_REMEMBERED });

  constructor(
    private readonly tokens: TokenService,
    private readonly users: UserRepository,
    accountCacheMs: number,
  ) {
    this.validAfter = accountCacheMs > 0 ? new LRUCache({ max: MAX_REMEMBERED, ttl: accountCacheMs }) : null;
  }

  async verify(token: string): Promise<VerifiedClaims> {
    const claims = this.signed(token);
    let validAfter = this.validAfter?.get(claims.sub);
    if (validAfter === undefined) {
      const read = await this.users.tokensValidAfter(new ObjectId(claims.sub));
      // The same answer as a bad signature, so a token does not tell whether its account was deleted.
      if (read === null) throw new UnauthorizedError('Invalid token');
      validAfter = read;
      this.validAfter?.set(claims.sub, validAfter);
    }
    if (issuedBefore(claims, validAfter)) throw new UnauthorizedError('Invalid token');
    return claims;
  }

  /** The token's claims, from its signature once and from memory until it expires. */
  private signed(token: string): VerifiedClaims {
    const known = this.verified.get(token);
    if (known) return known;
    const claims = this.tokens.verify(token);
    const left = claims.exp === undefined ? 0 : claims.exp * 1000 - Date.now();
    if (left > 0) this.verified.set(token, claims, { ttl: left });
    return claims;
  }

  /** Reads the account afresh at its next request: this instance closed it (other instances within the cache time). */
  forget(userId: string): void {
    this.validAfter?.delete(userId);
  }
}

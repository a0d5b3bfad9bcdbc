import { ObjectId } from 'mongodb';
import type { TokenClaims } from '@imagegen/shared';
import { UnauthorizedError } from '../errors';
import type { UserRepository } from '../users/user.repository';
import type { TokenService } from './token.service';

/**
 * Checks a token and that its user still exists: a signature outlives the account it was issued
 * to, and a deleted user's token must open nothing. One read by primary key per request.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly users: UserRepository,
  ) {}

  async verify(token: string): Promise<TokenClaims> {
    const claims = this.tokens.verify(token);
    // The same answer as a bad signature, so a token does not tell whether its account was deleted.
    if (!(await this.users.exists(new ObjectId(claims.sub)))) throw new UnauthorizedError('Invalid token');
    return claims;
  }
}

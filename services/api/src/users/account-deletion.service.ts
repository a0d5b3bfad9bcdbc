import { ObjectId } from 'mongodb';
import type { AccountDeleter } from '@imagegen/core';
import type { AuthService } from '../auth/auth.service';
import type { Authenticator } from '../auth/authenticator';
import type { VerifiedClaims } from '../auth/token.service';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../errors';
import type { UserRepository } from './user.repository';

/** How recently a token must have been issued to delete its account without the password. */
export const FRESH_TOKEN_MS = 5 * 60_000;

/**
 * Deleting an account, by its owner or an admin. The request waits for the whole deletion; should
 * the process stop first, the account stays closed and the worker's retention sweep finishes it.
 */
export class AccountDeletionService {
  constructor(
    private readonly users: UserRepository,
    private readonly accounts: AuthService,
    private readonly deleter: AccountDeleter,
    private readonly authenticator: Authenticator,
  ) {}

  /**
   * The caller's own account, confirmed by its password, or else by a token just issued: a token
   * left in a browser or a log for hours must not be enough to erase everything.
   */
  async deleteOwn(claims: VerifiedClaims, password: string | undefined, ip: string | undefined): Promise<void> {
    const user = await this.users.findById(new ObjectId(claims.sub));
    // The guard let the token through a moment ago: the account was deleted since.
    if (!user) throw new UnauthorizedError('Invalid token');
    if (password !== undefined) {
      await this.accounts.verify(user.email, password, ip).catch((err: unknown) => {
        if (!(err instanceof UnauthorizedError)) throw err;
        throw new UnauthorizedError('Wrong password', [
          { field: 'password', message: 'is not this account’s password' },
        ]);
      });
    } else if (Date.now() - issuedAtMs(claims) > FRESH_TOKEN_MS) {
      throw new ForbiddenError('Confirm with your password or sign in again');
    }
    await this.remove(user._id);
  }

  /** Any account, for an admin; 404 when there is none of this id. */
  async deleteAny(userId: string): Promise<void> {
    const user = await this.users.findById(new ObjectId(userId));
    if (!user) throw new NotFoundError('User not found');
    await this.remove(user._id);
  }

  private async remove(userId: ObjectId): Promise<void> {
    await this.deleter.delete(userId);
    this.authenticator.forget(userId.toHexString());
  }
}

/** When the token was issued; one without a time of issue is never fresh. */
function issuedAtMs(claims: VerifiedClaims): number {
  return claims.iat_ms ?? (claims.iat ?? 0) * 1000;
}

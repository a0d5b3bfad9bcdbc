import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ObjectIdString, TokenClaims, type UserRole } from '@imagegen/shared';
import { UnauthorizedError } from '../errors';

const ALGORITHM = 'HS256';

/** Our tokens name a user by id; any other subject, even correctly signed, would fail as a 500 downstream. */
const OurClaims = TokenClaims.extend({ sub: ObjectIdString });

export interface SignOptions {
  /** Shorter than the default lifetime, e.g. for dashboard sessions. */
  ttlSeconds?: number;
  /** A token id, to bind other values (a CSRF token) to this one token. */
  jwtid?: string;
  /** A stream token: good only for this generation's live events, not as a bearer token. */
  eventsOf?: string;
  /** A dashboard session's token: good only in its cookie, not as a bearer token. */
  adminSession?: boolean;
}

export interface TokenService {
  sign(userId: string, role: UserRole, options?: SignOptions): string;
  verify(token: string): TokenClaims;
  ttlSeconds: number;
}

/** HS256 access tokens. The algorithm is pinned on verify so `alg: none` or RS/HS confusion cannot pass. */
export function createTokenService(secretText: string, ttlSeconds: number): TokenService {
  // Made once: given a string, jsonwebtoken tries it as a public key first, and that failing
  // costs a thrown error on every verify.
  const secret = createSecretKey(Buffer.from(secretText, 'utf8'));
  return {
    ttlSeconds,
    sign: (userId, role, options = {}) =>
      jwt.sign(
        {
          role,
          ...(options.eventsOf && { scope: 'events', gen: options.eventsOf }),
          ...(options.adminSession && { scope: 'admin-session' }),
        },
        secret,
        {
          algorithm: ALGORITHM,
          subject: userId,
          expiresIn: options.ttlSeconds ?? ttlSeconds,
          ...(options.jwtid && { jwtid: options.jwtid }),
        },
      ),
    verify(token) {
      let payload: unknown;
      try {
        payload = jwt.verify(token, secret, { algorithms: [ALGORITHM] });
      } catch (err) {
        throw new UnauthorizedError(err instanceof jwt.TokenExpiredError ? 'Token expired' : 'Invalid token');
      }
      const claims = OurClaims.safeParse(payload);
      if (!claims.success) throw new UnauthorizedError('Invalid token');
      return claims.data;
    },
  };
}

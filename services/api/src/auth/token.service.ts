import jwt from 'jsonwebtoken';
import { ObjectIdString, TokenClaims, type UserRole } from '@imagegen/shared';
import { UnauthorizedError } from '../errors';

const ALGORITHM = 'HS256';

/** Our tokens name a user by id; any other subject, even correctly signed, would fail as a 500 downstream. */
const OurClaims = TokenClaims.extend({ sub: ObjectIdString });

export interface TokenService {
  sign(userId: string, role: UserRole): string;
  verify(token: string): TokenClaims;
  ttlSeconds: number;
}

/** HS256 access tokens. The algorithm is pinned on verify so `alg: none` or RS/HS confusion cannot pass. */
export function createTokenService(secret: string, ttlSeconds: number): TokenService {
  return {
    ttlSeconds,
    sign: (userId, role) =>
      jwt.sign({ role }, secret, { algorithm: ALGORITHM, subject: userId, expiresIn: ttlSeconds }),
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

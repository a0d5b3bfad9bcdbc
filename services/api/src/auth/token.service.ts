import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { ObjectIdString, TokenClaims, type UserRole } from '@imagegen/shared';
import { UnauthorizedError } from '../errors';

const ALGORITHM = 'HS256';

/**
 * Our tokens name a user by id; any other subject, even correctly signed, would fail as a 500
 * downstream. `iat_ms` is when the token was issued to the ms: `iat` counts whole seconds, too
 * coarse to tell a token issued just before a revocation from one issued just after.
 */
const OurClaims = TokenClaims.extend({
  sub: ObjectIdString,
  iat: z.number().optional(),
  iat_ms: z.number().optional(),
  /** When it expires (s): jsonwebtoken checked it; kept so that a verified token is not used past it. */
  exp: z.number().optional(),
});
export type VerifiedClaims = z.infer<typeof OurClaims>;

/**
 * True when the token was issued before the account's tokens were revoked (`validAfterMs`, 0 or
 * undefined: never). A token without `iat_ms` (not issued here) counts from the start of its
 * second, or, without `iat` either, from the beginning of time.
 */
export function issuedBefore(claims: VerifiedClaims, validAfterMs: number | undefined): boolean {
  return !!validAfterMs && (claims.iat_ms ?? (claims.iat ?? 0) * 1000) < validAfterMs;
}

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
  verify(token: string): VerifiedClaims;
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
          iat_ms: Date.now(),
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

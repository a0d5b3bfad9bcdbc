import type { Request, RequestHandler } from 'express';
import type { TokenClaims } from '@imagegen/shared';
import type { Authenticator } from '../auth/authenticator';
import { UnauthorizedError } from '../errors';

/** The token of `Authorization: Bearer <token>`, if the request has one. */
export function bearerToken(req: Request): string | undefined {
  return /^Bearer ([^\s]+)$/i.exec(req.get('authorization') ?? '')?.[1];
}

/** Requires `Authorization: Bearer <token>` and puts the verified claims in `res.locals.auth`. */
export function authenticate(auth: Authenticator): RequestHandler {
  return async (req, res, next) => {
    const token = bearerToken(req);
    if (!token) throw new UnauthorizedError('Missing bearer token');
    const claims = await auth.verify(token);
    // Scoped tokens (a stream token in a URL, a dashboard session's) open only their one thing.
    if (claims.scope) throw new UnauthorizedError('This token is not a bearer token');
    res.locals.auth = claims;
    next();
  };
}

export function authOf(locals: Record<string, unknown>): TokenClaims {
  return locals.auth as TokenClaims;
}

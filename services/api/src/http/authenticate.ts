import type { RequestHandler } from 'express';
import type { TokenClaims } from '@imagegen/shared';
import type { TokenService } from '../auth/token.service';
import { UnauthorizedError } from '../errors';

/** Requires `Authorization: Bearer <token>` and puts the verified claims in `res.locals.auth`. */
export function authenticate(tokens: TokenService): RequestHandler {
  return (req, res, next) => {
    const match = /^Bearer ([^\s]+)$/i.exec(req.get('authorization') ?? '');
    if (!match?.[1]) throw new UnauthorizedError('Missing bearer token');
    res.locals.auth = tokens.verify(match[1]);
    next();
  };
}

export function authOf(locals: Record<string, unknown>): TokenClaims {
  return locals.auth as TokenClaims;
}

import type { RequestHandler } from 'express';
import { ObjectId } from 'mongodb';
import { issuedBefore, type TokenService } from '../auth/token.service';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { bearerToken } from '../http/authenticate';
import type { UserRepository } from '../users/user.repository';
import type { AdminSessions } from './admin-sessions';

/**
 * Requires an admin: a bearer token, or (where `sessions` is given: the dashboard) the session
 * cookie. The account is read from the database on every request, so a revoked admin, a token
 * issued before the account's role or password changed, and a session ended by a logout lose
 * access at once rather than when the token expires. `res.locals.viaCookie` tells whether CSRF
 * applies.
 */
export function requireAdmin(tokens: TokenService, users: UserRepository, sessions?: AdminSessions): RequestHandler {
  return async (req, res, next) => {
    const bearer = bearerToken(req);
    const token = bearer ?? sessions?.tokenOf(req);
    if (!token) throw new UnauthorizedError(sessions ? 'Log in at /admin/login' : 'Missing bearer token');
    const claims = tokens.verify(token);
    // A bearer is an ordinary token; a cookie holds a dashboard session's, good for nothing else.
    if (claims.scope !== (bearer ? undefined : 'admin-session')) throw new UnauthorizedError('Invalid token here');
    const user = await users.findById(new ObjectId(claims.sub));
    if (!user) throw new UnauthorizedError('This account no longer exists');
    if (issuedBefore(claims, user.tokens_valid_after?.getTime())) throw new UnauthorizedError('Invalid token');
    if (!bearer && (await sessions?.ended(claims.jti))) throw new UnauthorizedError('This session has ended');
    if (user.role !== 'admin') throw new ForbiddenError('Admins only');
    res.locals.auth = claims;
    res.locals.viaCookie = !bearer;
    next();
  };
}

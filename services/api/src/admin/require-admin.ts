import type { RequestHandler } from 'express';
import { ObjectId } from 'mongodb';
import type { TokenService } from '../auth/token.service';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { bearerToken } from '../http/authenticate';
import type { UserRepository } from '../users/user.repository';
import type { AdminSessions } from './admin-sessions';

/**
 * Requires an admin: a bearer token, or (where `sessions` is given: the dashboard) the session
 * cookie. The role is read from the database, not the token, so a revoked admin loses access at
 * once rather than when the token expires. `res.locals.viaCookie` tells whether CSRF applies.
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
    if (user.role !== 'admin') throw new ForbiddenError('Admins only');
    res.locals.auth = claims;
    res.locals.viaCookie = !bearer;
    next();
  };
}

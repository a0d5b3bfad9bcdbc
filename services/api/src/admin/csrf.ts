import type { RequestHandler } from 'express';
import { ForbiddenError } from '../errors';
import { authOf } from '../http/auth';
import type { AdminSessions } from './admin-sessions';

/** Methods that change nothing, so need no CSRF token. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses state-changing dashboard requests that a cross-site page could forge: the browser says
 * the request is cross-site (Fetch Metadata), or a cookie-authenticated request lacks the session's
 * CSRF token. Bearer requests carry no ambient credentials, so they need no token.
 */
export function csrfProtection(sessions: AdminSessions): RequestHandler {
  return (req, _res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    if (req.get('sec-fetch-site') === 'cross-site') throw new ForbiddenError('Cross-site request refused');
    const { claims, viaCookie } = authOf(req);
    if (viaCookie && !sessions.csrfValid(req, claims.jti)) {
      throw new ForbiddenError('CSRF token missing or wrong; reload the dashboard');
    }
    next();
  };
}

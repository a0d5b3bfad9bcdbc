import type { Request, RequestHandler } from 'express';
import { ObjectId } from 'mongodb';
import type { AdminSessions } from '../admin/admin-sessions';
import type { Authenticator } from '../auth/authenticator';
import { issuedBefore, type TokenService, type VerifiedClaims } from '../auth/token.service';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { BEARER, STREAM_TOKEN } from '../openapi/components';
import type { UserRepository } from '../users/user.repository';
import { holdClose } from './graceful-close';

/**
 * Who may pass:
 * - `user`: any account's bearer token;
 * - `stream`: a bearer token, or a stream token of the generation `:id` in `?token=` (EventSource
 *   sends no headers);
 * - `admin`: an admin's bearer token, the account read afresh on every request;
 * - `dashboard`: as `admin`, or a dashboard session's cookie.
 */
export type AuthScope = 'user' | 'stream' | 'admin' | 'dashboard';

export type AuthOptions = { scope: 'user' | 'stream' | 'admin' } | { scope: 'dashboard'; sessions: AdminSessions };

export interface Authenticated {
  claims: VerifiedClaims;
  /** True when the session cookie, not a bearer token, carried the token: CSRF checks apply. */
  viaCookie: boolean;
}

/** A middleware that lets a request through or refuses it (401, 403), and what the document says it takes. */
export interface AuthGuard extends RequestHandler {
  readonly scope: AuthScope;
  readonly security: Array<Record<string, string[]>>;
}

export interface AuthDeps {
  authenticator: Authenticator;
  tokens: TokenService;
  users: UserRepository;
}

const passed = new WeakMap<Request, Authenticated>();

/** The caller a guard let through; only routes behind one ask. */
export function authOf(req: Request): Authenticated {
  const found = passed.get(req);
  if (!found) throw new Error(`no guard let ${req.method} ${req.originalUrl} through`);
  return found;
}

/** The token of `Authorization: Bearer <token>`, if the request has one. */
export function bearerToken(req: Request): string | undefined {
  return /^Bearer ([^\s]+)$/i.exec(req.get('authorization') ?? '')?.[1];
}

/** `auth({scope})`: the one place where a request's token is checked against what the route allows. */
export function createAuth(deps: AuthDeps): (options: AuthOptions) => AuthGuard {
  const checks: Record<AuthScope, (req: Request, options: AuthOptions) => Promise<Authenticated>> = {
    user: (req) => userCheck(deps, req),
    stream: (req) => streamCheck(deps, req),
    admin: (req) => adminCheck(deps, req),
    dashboard: (req, options) => adminCheck(deps, req, options.scope === 'dashboard' ? options.sessions : undefined),
  };
  return (options) => {
    const guard: RequestHandler = (req, res, next) =>
      holdClose(res, async () => {
        passed.set(req, await checks[options.scope](req, options));
        next();
      });
    const security: Array<Record<string, string[]>> =
      options.scope === 'stream' ? [{ [BEARER]: [] }, { [STREAM_TOKEN]: [] }] : [{ [BEARER]: [] }];
    return Object.assign(guard, { scope: options.scope, security });
  };
}

async function userCheck({ authenticator }: AuthDeps, req: Request): Promise<Authenticated> {
  const token = bearerToken(req);
  if (!token) throw new UnauthorizedError('Missing bearer token');
  const claims = await authenticator.verify(token);
  // Scoped tokens (a stream token in a URL, a dashboard session's) open only their one thing.
  if (claims.scope) throw new UnauthorizedError('This token is not a bearer token');
  return { claims, viaCookie: false };
}

/** Run once the route's input is parsed: `:id` is a valid generation id. */
async function streamCheck({ authenticator }: AuthDeps, req: Request): Promise<Authenticated> {
  const bearer = bearerToken(req);
  const token = typeof req.query.token === 'string' ? req.query.token : undefined;
  if (!bearer && !token) throw new UnauthorizedError('Missing bearer token or stream token');
  const claims = await authenticator.verify(bearer ?? token ?? '');
  const id = String(req.params.id).toLowerCase();
  if (bearer ? claims.scope !== undefined : claims.scope !== 'events' || claims.gen !== id) {
    throw new UnauthorizedError(
      bearer ? 'Use the stream token in ?token=, not as a bearer token' : 'Invalid stream token',
    );
  }
  return { claims, viaCookie: false };
}

/**
 * The account is read from the database on every request, so a revoked admin, a token issued
 * before the account's role or password changed, and a session ended by a logout lose access at
 * once rather than when the token expires.
 */
async function adminCheck({ tokens, users }: AuthDeps, req: Request, sessions?: AdminSessions): Promise<Authenticated> {
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
  return { claims, viaCookie: !bearer };
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { parse as parseCookies } from 'cookie';
import type { UserDocument } from '@imagegen/core';
import type { TokenService, VerifiedClaims } from '../auth/token.service';
import type { SessionRevocations } from './session-revocations';

/** Everything of the dashboard lives under this path, and so do its cookies. */
export const ADMIN_PATH = '/admin';
const SESSION_COOKIE = 'imagegen_admin';
/** bull-board's UI (axios) copies this cookie into the `X-XSRF-TOKEN` header of same-origin requests. */
const CSRF_COOKIE = 'XSRF-TOKEN';
export const CSRF_HEADER = 'x-xsrf-token';
const LOGIN_CSRF_COOKIE = 'imagegen_admin_login';

const same = (a: string, b: string) => {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Dashboard sessions: an HttpOnly, SameSite=Strict cookie holding a short-lived admin token, and a
 * CSRF token derived from that token's id (so it is bound to the session and needs no storage).
 * A logout ends the session on the server too, so a copy of the cookie stops working with it.
 */
export class AdminSessions {
  constructor(
    private readonly tokens: TokenService,
    private readonly secret: string,
    private readonly ttlSeconds: number,
    private readonly revocations: SessionRevocations,
  ) {}

  open(req: Request, res: Response, user: UserDocument): void {
    const jwtid = randomBytes(16).toString('base64url');
    const token = this.tokens.sign(user._id.toHexString(), user.role, {
      ttlSeconds: this.ttlSeconds,
      jwtid,
      adminSession: true,
    });
    const options = {
      path: ADMIN_PATH,
      secure: req.secure,
      sameSite: 'strict' as const,
      maxAge: this.ttlSeconds * 1000,
    };
    res.cookie(SESSION_COOKIE, token, { ...options, httpOnly: true });
    // Readable by the page's script on purpose: that is how the token gets into the header.
    res.cookie(CSRF_COOKIE, this.csrfTokenFor(jwtid), options);
    res.clearCookie(LOGIN_CSRF_COOKIE, { path: ADMIN_PATH });
  }

  /** Ends the request's session, if it carries a live one, and drops its cookies. */
  async close(req: Request, res: Response): Promise<void> {
    const claims = this.sessionClaims(req);
    if (claims?.jti) await this.revocations.revoke(claims.jti, this.ttlSeconds);
    for (const name of [SESSION_COOKIE, CSRF_COOKIE]) res.clearCookie(name, { path: ADMIN_PATH });
  }

  /** True when the session of this token id was ended by a logout. */
  ended(jti: string | undefined): Promise<boolean> {
    return jti ? this.revocations.revoked(jti) : Promise.resolve(true);
  }

  tokenOf(req: Request): string | undefined {
    return parseCookies(req.get('cookie') ?? '')[SESSION_COOKIE];
  }

  /** True when the request carries the CSRF token of the session whose token id is `jwtid`. */
  csrfValid(req: Request, jwtid: string | undefined): boolean {
    const sent = req.get(CSRF_HEADER);
    return !!jwtid && !!sent && same(sent, this.csrfTokenFor(jwtid));
  }

  /**
   * The login form's CSRF token: a random value in an HttpOnly cookie, and its HMAC in the form's
   * hidden field (OWASP's signed double-submit). A plain copy would let anyone who can plant a
   * cookie (a sibling subdomain, a man in the middle on http) choose both halves; without the
   * secret, a planted cookie has no field that matches it.
   */
  loginCsrf(req: Request, res: Response): string {
    const nonce = randomBytes(16).toString('base64url');
    res.cookie(LOGIN_CSRF_COOKIE, nonce, { path: ADMIN_PATH, secure: req.secure, sameSite: 'strict', httpOnly: true });
    return this.sign('admin-login-csrf', nonce);
  }

  loginCsrfValid(req: Request, sent: string | undefined): boolean {
    const nonce = parseCookies(req.get('cookie') ?? '')[LOGIN_CSRF_COOKIE];
    return !!nonce && !!sent && same(sent, this.sign('admin-login-csrf', nonce));
  }

  private csrfTokenFor(jwtid: string): string {
    return this.sign('admin-csrf', jwtid);
  }

  private sign(purpose: string, value: string): string {
    return createHmac('sha256', this.secret).update(`${purpose}.${value}`).digest('base64url');
  }

  /** The claims of the request's session cookie, when it holds a valid session token. */
  private sessionClaims(req: Request): VerifiedClaims | null {
    const token = this.tokenOf(req);
    if (!token) return null;
    try {
      const claims = this.tokens.verify(token);
      return claims.scope === 'admin-session' ? claims : null;
    } catch {
      // Expired or forged: there is nothing to end.
      return null;
    }
  }
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { parse as parseCookies } from 'cookie';
import type { UserDocument } from '@imagegen/shared';
import type { TokenService } from '../auth/token.service';

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
 */
export class AdminSessions {
  constructor(
    private readonly tokens: TokenService,
    private readonly secret: string,
    private readonly ttlSeconds: number,
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

  close(res: Response): void {
    for (const name of [SESSION_COOKIE, CSRF_COOKIE]) res.clearCookie(name, { path: ADMIN_PATH });
  }

  tokenOf(req: Request): string | undefined {
    return parseCookies(req.get('cookie') ?? '')[SESSION_COOKIE];
  }

  /** True when the request carries the CSRF token of the session whose token id is `jwtid`. */
  csrfValid(req: Request, jwtid: string | undefined): boolean {
    const sent = req.get(CSRF_HEADER);
    return !!jwtid && !!sent && same(sent, this.csrfTokenFor(jwtid));
  }

  /** A token for the login form, double-submitted as a cookie and a hidden field. */
  loginCsrf(req: Request, res: Response): string {
    const token = randomBytes(16).toString('base64url');
    res.cookie(LOGIN_CSRF_COOKIE, token, { path: ADMIN_PATH, secure: req.secure, sameSite: 'strict', httpOnly: true });
    return token;
  }

  loginCsrfValid(req: Request, sent: string | undefined): boolean {
    const expected = parseCookies(req.get('cookie') ?? '')[LOGIN_CSRF_COOKIE];
    return !!expected && !!sent && same(sent, expected);
  }

  private csrfTokenFor(jwtid: string): string {
    return createHmac('sha256', this.secret).update(`admin-csrf.${jwtid}`).digest('base64url');
  }
}

import express, { Router, type Response } from 'express';
import { z } from 'zod';
import type { AuthService } from '../auth/auth.service';
import { RateLimitedError, UnauthorizedError } from '../errors';
import { labelRoute } from '../http/route-label';
import { ADMIN_PATH, type AdminSessions } from './admin-sessions';
import { loginPage } from './login-page';

const LoginForm = z.object({
  email: z.string().trim().toLowerCase().max(254),
  password: z.string().max(256),
  csrf: z.string().max(64).optional(),
});

const DASHBOARD = `${ADMIN_PATH}/queues`;
const LOGIN = `${ADMIN_PATH}/login`;

/** `/admin/login` (a form) and `/admin/logout`: how a browser gets and drops a dashboard session. */
export function adminLoginRoutes(auth: AuthService, sessions: AdminSessions): Router {
  const router = Router();
  const page = (res: Response, status: number, csrf: string, error?: string) =>
    res
      .status(status)
      .set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
      .type('html')
      .send(loginPage(csrf, error));

  router.get('/login', labelRoute(LOGIN), (req, res) => page(res, 200, sessions.loginCsrf(req, res)));

  router.post('/login', labelRoute(LOGIN), express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const form = LoginForm.safeParse(req.body);
    if (!form.success || !sessions.loginCsrfValid(req, form.data.csrf)) {
      page(res, 403, sessions.loginCsrf(req, res), 'The form expired; sign in again.');
      return;
    }
    try {
      const user = await auth.verify(form.data.email, form.data.password, req.ip);
      if (user.role !== 'admin') {
        page(res, 403, sessions.loginCsrf(req, res), 'This account is not an administrator.');
        return;
      }
      sessions.open(req, res, user);
      res.redirect(303, DASHBOARD);
    } catch (err) {
      if (err instanceof RateLimitedError) {
        res.set('Retry-After', String(err.retryAfterSeconds));
        page(res, 429, sessions.loginCsrf(req, res), err.message);
        return;
      }
      if (!(err instanceof UnauthorizedError)) throw err;
      page(res, 401, sessions.loginCsrf(req, res), err.message);
    }
  });

  // The session ends on the server too, so a copied cookie is worth nothing after it; a forged
  // logout (the cookie is SameSite=Strict, so it hardly can be) would cost nothing but a sign-in.
  router.all('/logout', labelRoute(`${ADMIN_PATH}/logout`), async (req, res) => {
    await sessions.close(req, res);
    res.redirect(303, LOGIN);
  });

  return router;
}

import { Router } from 'express';
import type { AuthService } from '../auth/auth.service';
import { labelRoute } from '../http/route-label';
import { ADMIN_PATH, type AdminSessions } from './admin-sessions';
import { adminLoginRoutes } from './admin-login.routes';
import { dashboard, type DashboardDeps } from './dashboard';

/** `/admin`: the browser side of administration, the login form and the queue dashboard. */
export function adminArea(auth: AuthService, sessions: AdminSessions, dashboardDeps: DashboardDeps): Router {
  const router = Router();
  router.use((_req, res, next) => {
    // Pages that act on the system are never framed (clickjacking) nor cached.
    res.set({ 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'same-origin', 'Cache-Control': 'no-store' });
    next();
  });
  router.get('/', labelRoute(`${ADMIN_PATH}/`), (_req, res) => res.redirect(303, `${ADMIN_PATH}/queues`));
  router.use(adminLoginRoutes(auth, sessions));
  router.use('/queues', dashboard(dashboardDeps));
  return router;
}

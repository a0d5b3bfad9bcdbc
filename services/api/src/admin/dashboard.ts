import type { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import { QUEUES } from '@imagegen/shared';
import { UnauthorizedError } from '../errors';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';
import { labelRoute } from '../http/route-label';
import { ADMIN_PATH, type AdminSessions } from './admin-sessions';
import { BOARD_API_PATH, bullBoard, isBoardApiRequest, queueActionRoutes, refuseAsBoard } from './bull-board.adapter';
import { SAFE_METHODS, csrfProtection } from './csrf';
import { dashboardGenerationActions } from './dashboard-generation-actions';

export interface DashboardDeps {
  generationQueue: Queue;
  otherQueues: Queue[];
  readOnly: boolean;
  guard: RequestHandler;
  sessions: AdminSessions;
  generations: GenerationRepository;
  retries: GenerationRetryService;
}

const DASHBOARD_PATH = `${ADMIN_PATH}/queues`;

/**
 * `/admin/queues`: bull-board over every queue, behind our auth (it has none of its own). Pages
 * without a session redirect to the login form; its JSON API answers 401 or 403.
 */
export function dashboard(deps: DashboardDeps): Router {
  const router = Router();
  // One metrics series for the whole dashboard: its paths are bull-board's to choose.
  router.use(labelRoute(`${DASHBOARD_PATH}/*`));
  router.use(async (req, res, next) => {
    try {
      await deps.guard(req, res, next);
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || isBoardApiRequest(req) || req.method !== 'GET') throw err;
      res.redirect(303, `${ADMIN_PATH}/login`);
    }
  });
  router.use(csrfProtection(deps.sessions));
  if (deps.readOnly) {
    // bull-board refuses actions on read-only queues too; this also covers the routes we take over.
    router.use(BOARD_API_PATH, (req, res, next) => {
      if (SAFE_METHODS.has(req.method)) return next();
      refuseAsBoard(res, 405, 'The dashboard is read-only');
    });
  }
  const actions = dashboardGenerationActions(deps.generationQueue, deps.generations, deps.retries);
  router.use(queueActionRoutes(QUEUES.generations, actions));
  router.use(
    bullBoard({
      basePath: DASHBOARD_PATH,
      queues: [deps.generationQueue, ...deps.otherQueues],
      readOnly: deps.readOnly,
      title: 'imagegen',
      logoutUrl: `${ADMIN_PATH}/logout`,
    }),
  );
  return router;
}

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type Express, type RequestHandler } from 'express';
import { UnauthorizedError } from '../errors';
import type { GenerationRepository } from '../generations/generation.repository';
import type { GenerationRetryService } from '../generations/generation-retry.service';
import { ADMIN_PATH, type AdminSessions } from './admin-sessions';
import { SAFE_METHODS, csrfProtection } from './csrf';
import { generationJobRoutes } from './generation-jobs.routes';

export interface DashboardDeps {
  generationQueue: Queue;
  otherQueues: Queue[];
  readOnly: boolean;
  guard: RequestHandler;
  sessions: AdminSessions;
  generations: GenerationRepository;
  retries: GenerationRetryService;
}

/**
 * `/admin/queues`: bull-board over every queue, behind our auth (it has none of its own). Pages
 * without a session redirect to the login form; its JSON API answers 401 or 403.
 */
export function dashboard(deps: DashboardDeps): Router {
  const serverAdapter = new ExpressAdapter().setBasePath(`${ADMIN_PATH}/queues`);
  createBullBoard({
    queues: [deps.generationQueue, ...deps.otherQueues].map(
      (queue) => new BullMQAdapter(queue, { readOnlyMode: deps.readOnly }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'imagegen', miscLinks: [{ text: 'Log out', url: `${ADMIN_PATH}/logout` }] } },
  });

  const router = Router();
  router.use(async (req, res, next) => {
    try {
      await deps.guard(req, res, next);
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || req.path.startsWith('/api/') || req.method !== 'GET') throw err;
      res.redirect(303, `${ADMIN_PATH}/login`);
    }
  });
  router.use(csrfProtection(deps.sessions));
  if (deps.readOnly) {
    // bull-board refuses actions on read-only queues too; this also covers the routes we take over.
    router.use('/api', (req, res, next) => {
      if (SAFE_METHODS.has(req.method)) return next();
      res
        .status(405)
        .json({ success: false, error: 'The dashboard is read-only', message: 'The dashboard is read-only' });
    });
  }
  router.use(generationJobRoutes(deps.generationQueue, deps.generations, deps.retries));
  // bull-board's "router" is an Express app of its own, which names its framework in every answer
  // (X-Powered-By) unless told not to: ours being told does not reach it.
  const board = serverAdapter.getRouter() as Express;
  board.disable('x-powered-by');
  router.use(board as RequestHandler);
  return router;
}

import { Router } from 'express';
import { UpdateUserRequest, type QueuesOverview } from '@imagegen/shared';
import { authOf } from '../http/authenticate';
import { IdParams } from '../http/id-params';
import { respond } from '../http/respond';
import { validate } from '../http/validate';
import { AdminGenerationsQuery } from './admin.schemas';
import type { AdminService } from './admin.service';

/** `/api/admin`: the admin JSON API for scripts (behind `requireAdmin`). */
export function adminRoutes(service: AdminService): Router {
  const router = Router();

  router.get('/queues', async (_req, res) => {
    respond<QueuesOverview>(res, 200, 'Queues', { queues: await service.overview() });
  });

  router.get('/generations', validate('query', AdminGenerationsQuery), async (_req, res) => {
    respond(res, 200, 'Generations', await service.listGenerations(res.locals.query as AdminGenerationsQuery));
  });

  router.post('/generations/:id/retry', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    respond(res, 202, 'Generation queued again', await service.retryGeneration(id));
  });

  router.patch('/users/:id', validate('params', IdParams), validate('body', UpdateUserRequest), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    const { role } = res.locals.body as UpdateUserRequest;
    respond(res, 200, 'User updated', await service.setRole(authOf(res.locals).sub, id, role));
  });

  return router;
}

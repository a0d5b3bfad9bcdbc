import { Router, type Response } from 'express';
import { authOf } from '../http/authenticate';
import { respond } from '../http/respond';
import type { WebhookSecretService } from './webhook-secret.service';

/** `/api/webhooks/secret`: the signing secret receivers verify deliveries with. */
export function webhookSecretRoutes(service: WebhookSecretService): Router {
  const router = Router();
  // A secret must not linger in caches between the service and the client.
  const noStore = (res: Response) => res.set('Cache-Control', 'no-store');

  router.get('/secret', async (_req, res) => {
    noStore(res);
    respond(res, 200, 'Webhook signing secret', await service.show(authOf(res.locals).sub));
  });

  router.post('/secret/rotate', async (_req, res) => {
    noStore(res);
    respond(res, 200, 'Webhook signing secret rotated', await service.rotate(authOf(res.locals).sub));
  });

  return router;
}

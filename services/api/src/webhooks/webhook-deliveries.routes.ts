import { Router } from 'express';
import { authOf } from '../http/authenticate';
import { IdParams } from '../http/id-params';
import { respond } from '../http/respond';
import { validate } from '../http/validate';
import type { WebhookDeliveryService } from './webhook-delivery.service';

/** `/api/generations/:id/webhook-deliveries`: the delivery log of a generation, and redelivery. */
export function webhookDeliveryRoutes(service: WebhookDeliveryService): Router {
  const router = Router();

  router.get('/:id/webhook-deliveries', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    respond(res, 200, 'Webhook deliveries', await service.list(authOf(res.locals).sub, id));
  });

  router.post('/:id/webhook-deliveries/redeliver', validate('params', IdParams), async (_req, res) => {
    const { id } = res.locals.params as IdParams;
    respond(res, 202, 'Webhook redelivery queued', await service.redeliver(authOf(res.locals).sub, id));
  });

  return router;
}

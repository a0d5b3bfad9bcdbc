import { WebhookDeliveries, WebhookRedelivery } from '@imagegen/shared';
import { IdParams } from '../http/id-params';
import { respond } from '../http/respond';
import type { RouteTable } from '../http/route';
import { BEARER_REFUSALS, BODY_REFUSALS, refusals, success } from '../openapi/responses';
import type { WebhookDeliveryService } from './webhook-delivery.service';

/** `/api/generations/:id/webhook-deliveries`: the delivery log of a generation, and redelivery. */
export function webhookDeliveryRoutes(generations: RouteTable<true>, service: WebhookDeliveryService): void {
  const routes = generations.tagged('Webhooks');

  routes.get('/:id/webhook-deliveries', {
    summary: 'The webhook messages of a generation and every attempt at delivering them',
    params: IdParams,
    responses: {
      200: success('Messages and attempts, newest first', WebhookDeliveries),
      ...refusals({ 400: 'Not a generation id', ...BEARER_REFUSALS, 404: 'No such generation of yours' }),
    },
    handler: async ({ params, auth, res }) => {
      respond(res, 200, 'Webhook deliveries', await service.list(auth.sub, params.id));
    },
  });

  routes.post('/:id/webhook-deliveries/redeliver', {
    summary: 'Send the latest webhook message of a generation again',
    params: IdParams,
    responses: {
      202: success('Queued for delivery, under its original webhook-id', WebhookRedelivery),
      ...refusals({
        ...BODY_REFUSALS,
        400: 'Not a generation id',
        ...BEARER_REFUSALS,
        404: 'No such generation of yours',
        409: 'This generation has sent no webhook message yet, or the receiver answered 410 Gone to it',
        429: 'Too many redeliveries of this message, or of yours (WEBHOOK_REDELIVERIES_PER_MESSAGE, _PER_USER)',
      }),
    },
    handler: async ({ params, auth, res }) => {
      respond(res, 202, 'Webhook redelivery queued', await service.redeliver(auth.sub, params.id));
    },
  });
}

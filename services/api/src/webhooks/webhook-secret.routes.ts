import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Response } from 'express';
import { z } from 'zod';
import { WebhookSecretView } from '@imagegen/shared';
import type { AuthGuard } from '../http/auth';
import { respond } from '../http/respond';
import { RouteTable } from '../http/route';
import { BEARER_REFUSALS, BODY_REFUSALS, refusals, success } from '../openapi/responses';
import type { WebhookSecretService } from './webhook-secret.service';

const NoStore = z.object({ 'Cache-Control': z.literal('no-store') });

// A secret must not linger in caches between the service and the client.
const noStore = (res: Response) => res.set('Cache-Control', 'no-store');

/** `/api/webhooks/secret`: the signing secret receivers verify deliveries with. */
export function webhookSecretRoutes(
  docs: OpenAPIRegistry,
  user: AuthGuard,
  service: WebhookSecretService,
): RouteTable<true> {
  const routes = RouteTable.guarded(docs, '/api/webhooks', 'Webhooks', user);

  routes.get('/secret', {
    summary: 'Your webhook signing secret (made on first ask)',
    responses: {
      200: success('The secret deliveries are signed with (Standard Webhooks)', WebhookSecretView, NoStore),
      ...refusals(BEARER_REFUSALS),
    },
    handler: async ({ auth, res }) => {
      noStore(res);
      respond(res, 200, 'Webhook signing secret', await service.show(auth.sub));
    },
  });

  routes.post('/secret/rotate', {
    summary: 'Rotate your webhook signing secret',
    description: 'The previous secret keeps signing, beside the new one, for a day.',
    responses: {
      200: success('The new secret', WebhookSecretView, NoStore),
      ...refusals({
        ...BODY_REFUSALS,
        ...BEARER_REFUSALS,
        409: 'Rotated by another request at the same time; fetch it again',
      }),
    },
    handler: async ({ auth, res }) => {
      noStore(res);
      respond(res, 200, 'Webhook signing secret rotated', await service.rotate(auth.sub));
    },
  });

  return routes;
}

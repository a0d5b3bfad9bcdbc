import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { WebhookDeliveries, WebhookPayload, WebhookRedelivery, WebhookSecretView } from '@imagegen/shared';
import { IdParams } from '../http/id-params';
import { BEARER } from './components';
import { BEARER_REFUSALS, BODY_REFUSALS, json, refusals, success } from './responses';

const tags = ['Webhooks'];
const security = [{ [BEARER]: [] }];
const NoStore = z.object({ 'Cache-Control': z.literal('no-store') });

/** What every delivery carries, per Standard Webhooks. */
const DeliveryHeaders = z.object({
  'webhook-id': z.string().meta({ description: 'The message id: the same on every attempt, to dedupe by' }),
  'webhook-timestamp': z.string().meta({ description: 'Unix seconds of this attempt' }),
  'webhook-signature': z.string().meta({
    description:
      '`v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the secret (both secrets, space-separated, after a rotation)',
  }),
});

export function registerWebhookPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/webhooks/secret',
    tags,
    security,
    summary: 'Your webhook signing secret (made on first ask)',
    responses: {
      200: success('The secret deliveries are signed with (Standard Webhooks)', WebhookSecretView, NoStore),
      ...refusals(BEARER_REFUSALS),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/webhooks/secret/rotate',
    tags,
    security,
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
  });

  registry.registerPath({
    method: 'get',
    path: '/api/generations/{id}/webhook-deliveries',
    tags,
    security,
    summary: 'The webhook messages of a generation and every attempt at delivering them',
    request: { params: IdParams },
    responses: {
      200: success('Messages and attempts, newest first', WebhookDeliveries),
      ...refusals({ 400: 'Not a generation id', ...BEARER_REFUSALS, 404: 'No such generation of yours' }),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/api/generations/{id}/webhook-deliveries/redeliver',
    tags,
    security,
    summary: 'Send the latest webhook message of a generation again',
    request: { params: IdParams },
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
  });

  registry.registerWebhook({
    method: 'post',
    path: 'generation',
    tags,
    summary: 'What your webhook_url receives when a generation starts or ends',
    request: { headers: DeliveryHeaders, body: { required: true, content: json(WebhookPayload) } },
    responses: {
      200: { description: 'Any 2xx: delivered' },
      410: { description: 'Gone: stop sending this message' },
      default: { description: 'Anything else (or no answer): retried on a schedule, then failed' },
    },
  });
}

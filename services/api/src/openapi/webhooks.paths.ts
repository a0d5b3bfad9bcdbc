import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { WebhookPayload } from '@imagegen/shared';
import { json } from './responses';

const tags = ['Webhooks'];

/** What every delivery carries, per Standard Webhooks. */
const DeliveryHeaders = z.object({
  'webhook-id': z.string().meta({ description: 'The message id: the same on every attempt, to dedupe by' }),
  'webhook-timestamp': z.string().meta({ description: 'Unix seconds of this attempt' }),
  'webhook-signature': z.string().meta({
    description:
      '`v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the secret (both secrets, space-separated, after a rotation)',
  }),
});

/** Not a route of ours: what we send to a user's `webhook_url`. */
export function registerWebhookPaths(registry: OpenAPIRegistry): void {
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

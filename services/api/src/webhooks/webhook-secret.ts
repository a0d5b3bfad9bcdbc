import { randomBytes } from 'node:crypto';
import type { WebhookSecretDocument } from '@imagegen/core';

/**
 * A new Standard Webhooks secret, `whsec_` and 32 random bytes in base64 (the spec asks for 24 to
 * 64), with the secret it replaces, if any, still signing until `previousExpiresAt`.
 */
export function freshWebhookSecret(
  now: Date,
  previous: { secret: string; expiresAt: Date } | null = null,
): WebhookSecretDocument {
  return {
    current: `whsec_${randomBytes(32).toString('base64')}`,
    created_at: now,
    previous: previous?.secret ?? null,
    previous_expires_at: previous?.expiresAt ?? null,
  };
}

import { Webhook } from 'standardwebhooks';

/**
 * The `webhook-signature` header of Standard Webhooks: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`
 * for each secret, space-separated, so a receiver holding either secret of a rotation verifies it.
 */
export function signatureHeader(secrets: string[], id: string, timestampSeconds: number, body: string): string {
  const timestamp = new Date(timestampSeconds * 1000);
  return secrets.map((secret) => new Webhook(secret).sign(id, timestamp, body)).join(' ');
}

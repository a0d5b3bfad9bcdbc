import { randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { WEBHOOK_SECRET_OVERLAP_MS, type WebhookSecretDocument, type WebhookSecretView } from '@imagegen/shared';
import { ConflictError, UnauthorizedError } from '../errors';
import type { WebhookSecretRepository } from './webhook-secret.repository';

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64 (the spec asks for 24 to 64). */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export class WebhookSecretService {
  constructor(
    private readonly secrets: WebhookSecretRepository,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user's signing secret, made on first use so every user with a webhook has one. */
  async ensure(userId: string): Promise<WebhookSecretDocument> {
    const secret = await this.secrets.getOrCreate(new ObjectId(userId), newSecret());
    if (!secret) throw new UnauthorizedError('This account no longer exists');
    return secret;
  }

  async show(userId: string): Promise<WebhookSecretView> {
    return this.view(await this.ensure(userId));
  }

  /** A new secret; the old one keeps signing, beside it, for the overlap, so receivers can switch. */
  async rotate(userId: string): Promise<WebhookSecretView> {
    const current = await this.ensure(userId);
    const expiresAt = new Date(this.now() + WEBHOOK_SECRET_OVERLAP_MS);
    const next = newSecret();
    if (!(await this.secrets.rotate(new ObjectId(userId), current.current, next, expiresAt))) {
      throw new ConflictError('The secret was rotated by another request at the same time; fetch it again');
    }
    return this.view({
      current: next,
      created_at: new Date(this.now()),
      previous: current.current,
      previous_expires_at: expiresAt,
    });
  }

  private view(secret: WebhookSecretDocument): WebhookSecretView {
    const expires = secret.previous_expires_at;
    return {
      secret: secret.current,
      created_at: secret.created_at.toISOString(),
      previous_secret_expires_at: expires && expires.getTime() > this.now() ? expires.toISOString() : null,
    };
  }
}

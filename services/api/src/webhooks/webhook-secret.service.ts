import { ObjectId } from 'mongodb';
import { WEBHOOK_SECRET_OVERLAP_MS, type WebhookSecretView } from '@imagegen/shared';
import type { WebhookSecretDocument } from '@imagegen/core';
import { ConflictError, UnauthorizedError } from '../errors';
import { freshWebhookSecret } from './webhook-secret';
import type { WebhookSecretRepository } from './webhook-secret.repository';

export class WebhookSecretService {
  constructor(
    private readonly secrets: WebhookSecretRepository,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user's signing secret, so every user with a webhook has one for the worker to sign with. */
  async ensure(userId: string): Promise<WebhookSecretDocument> {
    const secret = await this.secrets.createIfMissing(new ObjectId(userId), freshWebhookSecret(new Date(this.now())));
    if (!secret) throw new UnauthorizedError('This account no longer exists');
    return secret;
  }

  /**
   * On the create path: makes sure the worker will find a secret to sign with (accounts made before
   * webhooks have none); one read when the account has one.
   */
  async provide(userId: string): Promise<void> {
    await this.secrets.createIfMissing(new ObjectId(userId), freshWebhookSecret(new Date(this.now())));
  }

  async show(userId: string): Promise<WebhookSecretView> {
    return this.view(await this.ensure(userId));
  }

  /** A new secret; the old one keeps signing, beside it, for the overlap, so receivers can switch. */
  async rotate(userId: string): Promise<WebhookSecretView> {
    const current = await this.ensure(userId);
    const now = this.now();
    const next = freshWebhookSecret(new Date(now), {
      secret: current.current,
      expiresAt: new Date(now + WEBHOOK_SECRET_OVERLAP_MS),
    });
    if (!(await this.secrets.rotate(new ObjectId(userId), current.current, next))) {
      throw new ConflictError('The secret was rotated by another request at the same time; fetch it again');
    }
    return this.view(next);
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

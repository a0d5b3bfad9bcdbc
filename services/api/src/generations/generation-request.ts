import { ObjectId } from 'mongodb';
import { DEFAULT_WEBHOOK_EVENTS, type CreateGenerationRequest, type GenerationSettings } from '@imagegen/shared';
import {
  WebhookTargetError,
  newGeneration,
  resolveTarget,
  type GenerationDocument,
  type GenerationWebhook,
  type TargetPolicy,
} from '@imagegen/core';
import { ServiceUnavailableError, ValidationError } from '../errors';
import type { ModelCatalog } from '../models/model-catalog';
import type { WebhookSecretService } from '../webhooks/webhook-secret.service';

export interface RequestPolicy {
  webhookTargets: TargetPolicy;
  /** `cancel_after` of requests that give none (ms), or null for no deadline. */
  defaultCancelAfterMs: number | null;
}

/** Turns a create request into the record to write, checking what the schema alone cannot. */
export class GenerationRequests {
  constructor(
    private readonly policy: RequestPolicy,
    private readonly models: ModelCatalog,
    private readonly webhookSecrets: WebhookSecretService,
  ) {}

  async toDocument(userId: string, input: CreateGenerationRequest, id: ObjectId): Promise<GenerationDocument> {
    // Before the webhook: a model no provider serves is refused before its secret is made.
    const settings = await this.settingsOf(input);
    const webhook = await this.webhookOf(userId, input);
    const cancelAfterMs = input.cancel_after ?? this.policy.defaultCancelAfterMs;
    return newGeneration(new ObjectId(userId), input.prompt, settings, { id, webhook, cancelAfterMs });
  }

  /**
   * The webhook a request asks for, once its host is known to be a public address (so a user cannot
   * point us into our own network) and the user has a signing secret for the worker to sign with.
   */
  private async webhookOf(userId: string, input: CreateGenerationRequest): Promise<GenerationWebhook | null> {
    if (!input.webhook_url) return null;
    try {
      await resolveTarget(new URL(input.webhook_url).hostname, this.policy.webhookTargets);
    } catch (err) {
      if (!(err instanceof WebhookTargetError)) throw err;
      if (err.temporary) throw new ServiceUnavailableError(`Could not check webhook_url: ${err.message}`, err);
      throw new ValidationError([{ field: 'webhook_url', message: err.message }]);
    }
    await this.webhookSecrets.provide(userId);
    return { url: input.webhook_url, events: input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS };
  }

  private async settingsOf(input: CreateGenerationRequest): Promise<GenerationSettings> {
    const { model, provider } = await this.models.choose(input);
    return {
      width: input.width,
      height: input.height,
      model,
      provider,
      style: input.style,
      negative_prompt: input.negative_prompt ?? null,
      num_inference_steps: input.num_inference_steps ?? null,
      guidance_scale: input.guidance_scale ?? null,
      seed: input.seed ?? null,
      num_images: input.num_images,
    };
  }
}

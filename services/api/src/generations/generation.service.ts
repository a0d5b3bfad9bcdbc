import { ObjectId } from 'mongodb';
import {
  DEFAULT_WEBHOOK_EVENTS,
  JOBS,
  WebhookTargetError,
  generationJobOptions,
  resolveTarget,
  type CreateGenerationRequest,
  type Generation,
  type GenerationJobData,
  type GenerationPage,
  type GenerationSettings,
  type GenerationWebhook,
  type ImageDocument,
  type ListGenerationsQuery,
  type TargetPolicy,
} from '@imagegen/shared';
import { NotFoundError, ValidationError } from '../errors';
import type { JobQueue } from '../infra/job-queue';
import type { WebhookSecretService } from '../webhooks/webhook-secret.service';
import { pageOf, toGeneration } from './generation.mapper';
import type { GenerationRepository } from './generation.repository';
import type { ImageRepository } from './image.repository';

export interface ModelPolicy {
  defaultModel: string;
  /** When set, the only models a request may name (the default is always allowed). */
  allowedModels?: string[];
}

export interface GenerationServiceDeps {
  generations: GenerationRepository;
  images: ImageRepository;
  queue: JobQueue<GenerationJobData>;
  models: ModelPolicy;
  webhookSecrets: WebhookSecretService;
  webhookTargets: TargetPolicy;
}

export class GenerationService {
  private readonly generations: GenerationRepository;
  private readonly images: ImageRepository;

  constructor(private readonly deps: GenerationServiceDeps) {
    this.generations = deps.generations;
    this.images = deps.images;
  }

  /**
   * Writes the pending record, then enqueues it. If the queue cannot take it, the record is removed
   * and the client told to retry: a 202 always means a job exists.
   */
  async create(userId: string, input: CreateGenerationRequest): Promise<Generation> {
    const settings = this.settingsOf(input);
    const webhook = await this.webhookOf(userId, input);
    const doc = await this.generations.insertPending(new ObjectId(userId), input.prompt, settings, webhook);
    const generationId = doc._id.toHexString();
    try {
      await this.deps.queue.add(JOBS.generationCreate, { generationId }, generationJobOptions(generationId));
    } catch (err) {
      // Should this delete fail too, its error reaches the error middleware, which logs it.
      await this.generations.deletePending(doc._id);
      throw err;
    }
    return toGeneration(doc, null);
  }

  async get(userId: string, id: string): Promise<Generation> {
    const doc = await this.generations.findOwned(new ObjectId(id), new ObjectId(userId));
    if (!doc) throw new NotFoundError('Generation not found');
    const image = doc.status === 'completed' ? await this.images.findOwned(doc._id, doc.user_id) : null;
    return toGeneration(doc, image);
  }

  async list(userId: string, query: ListGenerationsQuery): Promise<GenerationPage> {
    const docs = await this.generations.listOwned(new ObjectId(userId), {
      limit: query.limit + 1,
      ...(query.cursor && { before: new ObjectId(query.cursor) }),
      ...(query.status && { status: query.status }),
    });
    return pageOf(docs, query.limit);
  }

  /** Only a completed generation shows its image, even if a late redelivery stored bytes for a failed one. */
  async image(userId: string, id: string): Promise<ImageDocument> {
    const doc = await this.generations.findOwned(new ObjectId(id), new ObjectId(userId));
    if (!doc) throw new NotFoundError('Generation not found');
    const image = doc.status === 'completed' ? await this.images.findOwned(doc._id, doc.user_id) : null;
    if (!image) throw new NotFoundError(`No image: the generation is ${doc.status}`);
    return image;
  }

  /**
   * The webhook a request asks for, once its host is known to be a public address (so a user cannot
   * point us into our own network) and the user has a signing secret for the worker to sign with.
   */
  private async webhookOf(userId: string, input: CreateGenerationRequest): Promise<GenerationWebhook | null> {
    if (!input.webhook_url) return null;
    try {
      await resolveTarget(new URL(input.webhook_url).hostname, this.deps.webhookTargets);
    } catch (err) {
      if (!(err instanceof WebhookTargetError)) throw err;
      throw new ValidationError([{ field: 'webhook_url', message: err.message }]);
    }
    await this.deps.webhookSecrets.ensure(userId);
    return { url: input.webhook_url, events: input.webhook_events ?? DEFAULT_WEBHOOK_EVENTS };
  }

  private settingsOf(input: CreateGenerationRequest): GenerationSettings {
    const model = input.model ?? this.deps.models.defaultModel;
    const { allowedModels, defaultModel } = this.deps.models;
    if (allowedModels && model !== defaultModel && !allowedModels.includes(model)) {
      throw new ValidationError([
        { field: 'model', message: `is not offered here; use one of: ${[defaultModel, ...allowedModels].join(', ')}` },
      ]);
    }
    return {
      width: input.width,
      height: input.height,
      model,
      style: input.style,
      negative_prompt: input.negative_prompt ?? null,
      num_inference_steps: input.num_inference_steps ?? null,
      guidance_scale: input.guidance_scale ?? null,
      seed: input.seed ?? null,
    };
  }
}

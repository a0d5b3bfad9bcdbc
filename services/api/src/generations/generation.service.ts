import { ObjectId } from 'mongodb';
import type {
  CreateGenerationRequest,
  Generation,
  GenerationPage,
  GenerationSettings,
  ImageDocument,
  ListGenerationsQuery,
} from '@imagegen/shared';
import { NotFoundError, ValidationError } from '../errors';
import type { GenerationQueue } from '../infra/generation-queue';
import { toGeneration, toSummary } from './generation.mapper';
import type { GenerationRepository } from './generation.repository';
import type { ImageRepository } from './image.repository';

export interface ModelPolicy {
  defaultModel: string;
  /** When set, the only models a request may name (the default is always allowed). */
  allowedModels?: string[];
}

export class GenerationService {
  constructor(
    private readonly generations: GenerationRepository,
    private readonly images: ImageRepository,
    private readonly queue: GenerationQueue,
    private readonly models: ModelPolicy,
  ) {}

  /**
   * Writes the pending record, then enqueues it. If the queue cannot take it, the record is removed
   * and the client told to retry: a 202 always means a job exists.
   */
  async create(userId: string, input: CreateGenerationRequest): Promise<Generation> {
    const doc = await this.generations.insertPending(new ObjectId(userId), input.prompt, this.settingsOf(input));
    try {
      await this.queue.enqueue(doc._id.toHexString());
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
    const items = docs.slice(0, query.limit).map(toSummary);
    const last = items.at(-1);
    return { items, next_cursor: docs.length > query.limit && last ? last.id : null };
  }

  /** Only a completed generation shows its image, even if a late redelivery stored bytes for a failed one. */
  async image(userId: string, id: string): Promise<ImageDocument> {
    const doc = await this.generations.findOwned(new ObjectId(id), new ObjectId(userId));
    if (!doc) throw new NotFoundError('Generation not found');
    const image = doc.status === 'completed' ? await this.images.findOwned(doc._id, doc.user_id) : null;
    if (!image) throw new NotFoundError(`No image: the generation is ${doc.status}`);
    return image;
  }

  private settingsOf(input: CreateGenerationRequest): GenerationSettings {
    const model = input.model ?? this.models.defaultModel;
    const { allowedModels, defaultModel } = this.models;
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

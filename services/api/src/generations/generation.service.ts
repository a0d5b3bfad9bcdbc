import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ObjectId } from 'mongodb';
import {
  isTerminal,
  type CreateGenerationRequest,
  type Generation,
  type GenerationPage,
  type ListGenerationsQuery,
} from '@imagegen/shared';
import type {
  GenerationCanceller,
  GenerationDocument,
  GenerationStore,
  IdempotencyKeyDocument,
  ImageBody,
  ImageStore,
  PendingRuns,
  ByteRange,
} from '@imagegen/core';
import { imagesOf } from '@imagegen/core';
import { AppError, ConflictError, GoneError, NotFoundError } from '../errors';
import type { QueueStandings } from '../infra/queue-standing';
import type { Admission, CreateLimits } from './create-limits';
import type { GenerationMapper } from './generation.mapper';
import type { GenerationRepository } from './generation.repository';
import type { GenerationRequests } from './generation-request';
import type { GenerationRetryService } from './generation-retry.service';
import type { IdempotencyRepository } from './idempotency.repository';
import type { Representation } from './generation.schemas';
import type { ImageQuery } from './image-query';
import { renditionBytes, renditionFor, type ServedImage } from './image-renditions';

export interface GenerationServiceDeps {
  generations: GenerationRepository;
  store: GenerationStore;
  images: ImageStore;
  requests: GenerationRequests;
  pending: PendingRuns;
  idempotency: IdempotencyRepository;
  canceller: GenerationCanceller;
  retries: GenerationRetryService;
  standings: QueueStandings;
  mapper: GenerationMapper;
  limits: CreateLimits;
}

export interface Created {
  generation: Generation;
  /** An earlier request with the same Idempotency-Key made it. */
  replayed: boolean;
}

/** How long a request waits for a concurrent one with the same Idempotency-Key to write its record. */
const CONCURRENT_KEY_WAIT_MS = 5_000;

export class GenerationService {
  private readonly generations: GenerationRepository;

  constructor(private readonly deps: GenerationServiceDeps) {
    this.generations = deps.generations;
  }

  /**
   * Writes the pending record, then queues its jobs. If the queue cannot take them, the record is
   * removed and the client told to retry: a 202 always means a job exists. With an Idempotency-Key,
   * a repeat of the same request within a day returns the generation the first one made, as
   * `representation` asks.
   */
  async create(
    userId: string,
    input: CreateGenerationRequest,
    idempotencyKey?: string,
    representation: Representation = 'full',
  ): Promise<Created> {
    const id = new ObjectId();
    const owner = new ObjectId(userId);
    const admission = await this.deps.limits.admit(owner, id, input.num_images);
    if (idempotencyKey) {
      const hash = requestHash(input);
      const claim = await this.deps.idempotency.claim(owner, idempotencyKey, hash, id);
      // A replay repeats none of the checks below (a webhook's DNS lookup among them), and is not
      // refused at the cap or past a quota: only new generations count against them.
      if (!claim.claimed) {
        if (!admission.refused) await this.deps.limits.release(owner, id);
        return { generation: await this.replay(claim.existing, hash, representation), replayed: true };
      }
    }
    let doc: GenerationDocument;
    try {
      doc = await this.write(owner, input, id, admission);
    } catch (err) {
      // The key is free again, so the client's retry can create the generation.
      if (idempotencyKey) await this.deps.idempotency.release(owner, idempotencyKey, id);
      throw err;
    }
    return { generation: await this.deps.mapper.full(doc, null, admission.place), replayed: false };
  }

  /**
   * Checks the request, writes the record and queues its jobs; the record is removed, and what the
   * admission counted given back, if they cannot be. Not `reserved`: the admission found no room
   * under the cap, which is looked for now.
   */
  private async write(
    owner: ObjectId,
    input: CreateGenerationRequest,
    id: ObjectId,
    { reserved, refused }: Admission,
  ): Promise<GenerationDocument> {
    // Past a quota, and no replay: the admission counted nothing, so there is nothing to give back.
    if (refused) throw refused;
    let written = false;
    try {
      if (!reserved) await this.deps.limits.reserveAtCap(owner, id);
      const doc = await this.deps.requests.toDocument(owner.toHexString(), input, id);
      await this.generations.insert(doc);
      written = true;
      await this.deps.pending.enqueue(doc, { counted: true });
      return doc;
    } catch (err) {
      // Should either fail too, its error reaches the error middleware, which logs it.
      if (written) await this.deps.store.deletePending(id);
      await this.deps.limits.release(owner, id);
      throw err;
    }
  }

  async get(userId: string, id: string, representation: Representation = 'full'): Promise<Generation> {
    return this.show(await this.owned(userId, id), representation);
  }

  async list(userId: string, query: ListGenerationsQuery): Promise<GenerationPage> {
    const docs = await this.generations.listOwned(new ObjectId(userId), {
      limit: query.limit + 1,
      ...(query.cursor && { before: new ObjectId(query.cursor) }),
      ...(query.status && { status: query.status }),
    });
    return this.deps.mapper.page(docs, query.limit);
  }

  /**
   * Image `index` (0 by default) of a completed generation, and what `query` asks to be made of it:
   * only a completed one shows its images, even if a late redelivery stored bytes for a failed one.
   * 404 naming how many there are for an index past them; 410 once retention removed them.
   */
  async imageOf(userId: string, id: string, query: ImageQuery & { index?: number } = {}): Promise<ServedImage> {
    const doc = await this.owned(userId, id);
    if (doc.status !== 'completed' || !doc.image) throw new NotFoundError(`No image: the generation is ${doc.status}`);
    const images = imagesOf(doc);
    const index = query.index ?? 0;
    const original = images[index];
    if (!original) {
      const count = images.length === 1 ? '1 image (index 0)' : `${images.length} images (0 to ${images.length - 1})`;
      throw new NotFoundError(`No image ${index}: the generation has ${count}`);
    }
    if (doc.image_expired) throw new GoneError('The image was removed after the retention period; the record remains');
    return { id: doc._id, owner: doc.user_id, index, original, rendition: renditionFor(original, query) };
  }

  /**
   * The bytes of an image `imageOf` found: the original's (or `range` of them) streamed from the
   * store, or its rendition, whole. 404 when they are gone meanwhile (deleted).
   */
  async imageBytes(image: ServedImage, range?: ByteRange): Promise<ImageBody> {
    if (image.rendition) {
      const bytes = await renditionBytes(this.deps.images, { ...image, rendition: image.rendition });
      return { stream: Readable.from([bytes]), length: bytes.length };
    }
    const body = await this.deps.images.open(image.id, range, { index: image.index });
    if (!body) throw new NotFoundError('No image: it was deleted');
    return body;
  }

  /** Cancels a pending or processing generation; an ended one is a 409 naming its status. */
  async cancel(userId: string, id: string): Promise<Generation> {
    const doc = await this.owned(userId, id);
    const canceled = isTerminal(doc.status) ? null : await this.deps.canceller.cancel(doc._id, 'user');
    if (!canceled) {
      const now = await this.owned(userId, id);
      throw new ConflictError(`The generation is already ${now.status}`);
    }
    return this.present(canceled, null);
  }

  /** Runs a failed or canceled generation of the user's again: counted against the rate as a create is. */
  async retry(userId: string, id: string): Promise<Generation> {
    await this.deps.limits.consume(new ObjectId(userId));
    return this.present(await this.deps.retries.retry(await this.owned(userId, id)), null);
  }

  /** The user's generation (another user's is indistinguishable from an unknown one). */
  async owned(userId: string, id: string): Promise<GenerationDocument> {
    const doc = await this.generations.findOwned(new ObjectId(id), new ObjectId(userId));
    if (!doc) throw new NotFoundError('Generation not found');
    return doc;
  }

  /** `doc` as answered: with its image, once completed, unless a `minimal` answer is asked for. */
  async show(doc: GenerationDocument, representation: Representation = 'full'): Promise<Generation> {
    const shown = representation === 'full' && doc.status === 'completed' && !doc.image_expired;
    const image = shown ? await this.deps.images.read(doc._id) : null;
    return this.present(doc, image);
  }

  async present(doc: GenerationDocument, image: Buffer | null): Promise<Generation> {
    const place = doc.status === 'pending' ? await this.deps.standings.of(doc) : undefined;
    return this.deps.mapper.full(doc, image, place);
  }

  /** The generation an earlier request with the same key made, once it is written. */
  private async replay(key: IdempotencyKeyDocument, hash: string, representation: Representation): Promise<Generation> {
    if (key.request_hash !== hash) {
      throw new AppError(422, 'This Idempotency-Key was used with a different request body');
    }
    const deadline = Date.now() + CONCURRENT_KEY_WAIT_MS;
    for (;;) {
      const doc = await this.generations.findById(key.generation_id);
      if (doc) return this.show(doc, representation);
      if (Date.now() > deadline) {
        throw new ConflictError('A request with this Idempotency-Key is still being processed; retry shortly');
      }
      await sleep(50);
    }
  }
}

/** The parsed body, keys sorted, hashed: equal for the same request however its JSON was laid out. */
function requestHash(input: CreateGenerationRequest): string {
  const canonical = JSON.stringify(input, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  return createHash('sha256').update(canonical).digest('base64url');
}

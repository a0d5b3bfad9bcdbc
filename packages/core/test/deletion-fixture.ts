import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { Redis } from 'ioredis';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import {
  JOBS,
  QUEUES,
  cancelChannel,
  deadlineJobId,
  generationJobId,
  webhookMessageId,
  type GenerationStatus,
  type ImageMeta,
} from '@imagegen/shared';
import { isolation, type Isolation } from '../../../test/support/isolation';
import {
  COLLECTIONS,
  GenerationCanceller,
  GenerationDeleter,
  GenerationEvents,
  GenerationStore,
  InFlightGenerations,
  JobQueues,
  MongoImageStore,
  newGeneration,
  type GenerationDocument,
  type IdempotencyKeyDocument,
  type ImageStore,
  type UserDocument,
  type WebhookAttemptDocument,
  type WebhookMessageDocument,
} from '../src';
import { deletionParts } from '../../../test/support/deletion-parts';
import { SETTINGS } from '../../../test/support/generation-settings';

const META: ImageMeta = { mime_type: 'image/png', size_bytes: 4, width: 256, height: 256 };
/** Every state a BullMQ job can be found in. */
const JOB_STATES = ['waiting', 'delayed', 'active', 'prioritized', 'completed', 'failed'] as const;

/** What is left of one generation anywhere: all empty once it is deleted. */
export interface Leftovers {
  record: boolean;
  image: boolean;
  events: number;
  messages: number;
  attempts: number;
  idempotencyKeys: number;
  inFlight: boolean;
  /** Ids of the jobs, in any queue, that name it. */
  jobs: string[];
}

export const NOTHING: Leftovers = {
  record: false,
  image: false,
  events: 0,
  messages: 0,
  attempts: 0,
  idempotencyKeys: 0,
  inFlight: false,
  jobs: [],
};

/**
 * The deletion's world on the real test services (FerretDB, Redis, BullMQ queues, the MongoDB image
 * store), wired as the services wire it, and generations seeded with everything one can leave behind.
 */
export class DeletionWorld {
  readonly store: GenerationStore;
  readonly events: GenerationEvents;
  readonly inFlight: InFlightGenerations;
  readonly images: MongoImageStore;
  readonly queues: JobQueues;
  readonly canceller: GenerationCanceller;
  readonly deleter: GenerationDeleter;
  /** The job ids published on the cancel channel, as the worker running them would hear them. */
  readonly cancelsHeard: string[] = [];
  private readonly heard = new EventEmitter();

  private constructor(
    readonly env: Isolation,
    private readonly client: MongoClient,
    readonly db: Db,
    readonly redis: Redis,
    private readonly subscriber: Redis,
  ) {
    this.images = new MongoImageStore(db);
    ({
      queues: this.queues,
      store: this.store,
      events: this.events,
      inFlight: this.inFlight,
      canceller: this.canceller,
      deleter: this.deleter,
    } = deletionParts(db, redis, env.queuePrefix, this.images));
  }

  static async start(): Promise<DeletionWorld> {
    const env = isolation();
    const client = await new MongoClient(env.mongoUri).connect();
    const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const subscriber = redis.duplicate();
    const world = new DeletionWorld(env, client, client.db(), redis, subscriber);
    await subscriber.subscribe(cancelChannel(env.queuePrefix));
    subscriber.on('message', (_channel, jobId: string) => {
      world.cancelsHeard.push(jobId);
      world.heard.emit(jobId);
    });
    return world;
  }

  /** Resolves once a cancel of this job id has been heard (Redis delivers in the order published). */
  async cancelHeard(jobId: string): Promise<void> {
    if (!this.cancelsHeard.includes(jobId)) await once(this.heard, jobId);
  }

  /** A deleter as the services build it, on another image store (one that fails, say). */
  deleterWith(images: ImageStore): GenerationDeleter {
    const { db, events, inFlight, canceller, queues } = this;
    return new GenerationDeleter({ db, images, events, inFlight, canceller, queues });
  }

  async newUser(): Promise<ObjectId> {
    const user: UserDocument = {
      _id: new ObjectId(),
      email: `user-${randomBytes(4).toString('hex')}@example.com`,
      name: 'A user',
      password_hash: 'not a hash',
      role: 'user',
      created_at: new Date(),
    };
    await this.db.collection<UserDocument>(COLLECTIONS.users).insertOne(user);
    return user._id;
  }

  /**
   * A generation of `owner` in `status`, at run `run`, with everything a generation leaves: image
   * bytes, an events stream, a webhook message and its attempt, every run's generation and deadline
   * jobs, the message's delivery job, an idempotency key, and its place in flight when in flight.
   */
  async seed(owner: ObjectId, status: GenerationStatus, run = 1): Promise<GenerationDocument> {
    const now = new Date();
    const ended = status !== 'pending' && status !== 'processing';
    const doc: GenerationDocument = {
      ...newGeneration(owner, `a ${status} picture`, SETTINGS, {
        webhook: { url: 'http://127.0.0.1:9/hook', events: ['start', 'completed'] },
        cancelAfterMs: 600_000,
      }),
      status,
      run,
      started_at: status === 'pending' ? null : now,
      completed_at: ended ? now : null,
      image: status === 'completed' ? META : null,
    };
    const id = doc._id.toHexString();
    await this.db.collection<GenerationDocument>(COLLECTIONS.generations).insertOne(doc);
    // Bytes for every status: a late delivery of a job may have stored some for one that did not complete.
    await this.images.put(doc._id, { owner, bytes: new Uint8Array([1, 2, 3, 4]), meta: META });
    await this.events.append(id, { type: 'notice', message: 'warming up', retry_in_seconds: null });
    const messageId = webhookMessageId(id, 'generation.started', run);
    await this.db.collection<WebhookMessageDocument>(COLLECTIONS.webhookMessages).insertOne({
      _id: messageId,
      generation_id: doc._id,
      user_id: owner,
      type: 'generation.started',
      url: 'http://127.0.0.1:9/hook',
      body: '{}',
      state: 'retrying',
      attempts: 1,
      next_attempt_at: now,
      created_at: now,
      updated_at: now,
    });
    await this.db.collection<WebhookAttemptDocument>(COLLECTIONS.webhookAttempts).insertOne({
      _id: new ObjectId(),
      message_id: messageId,
      generation_id: doc._id,
      user_id: owner,
      type: 'generation.started',
      trigger: 'scheduled',
      url: 'http://127.0.0.1:9/hook',
      attempted_at: now,
      status_code: 500,
      error: 'HTTP 500',
      duration_ms: 3,
      outcome: 'retrying',
      next_retry_at: now,
    });
    for (let r = 1; r <= run; r++) {
      await this.queues.enqueue(JOBS.generationCreate, { generationId: id, run: r });
      const deadlineAt = new Date(now.getTime() + 600_000).toISOString();
      await this.queues.enqueue(JOBS.generationDeadline, { generationId: id, deadlineAt }, { run: r });
    }
    await this.queues.enqueue(JOBS.webhookDeliver, { messageId, trigger: 'scheduled' });
    await this.db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys).insertOne({
      _id: `${owner.toHexString()}:${randomBytes(8).toString('hex')}`,
      user_id: owner,
      request_hash: 'a hash',
      generation_id: doc._id,
      created_at: now,
    });
    if (!ended) await this.inFlight.add(owner, doc._id);
    return doc;
  }

  async leftovers(doc: GenerationDocument): Promise<Leftovers> {
    const id = doc._id.toHexString();
    const byGeneration = { generation_id: doc._id };
    return {
      record: (await this.db.collection(COLLECTIONS.generations).countDocuments({ _id: doc._id })) > 0,
      image: await this.images.has(doc._id),
      events: (await this.events.after(id)).length,
      messages: await this.db.collection(COLLECTIONS.webhookMessages).countDocuments(byGeneration),
      attempts: await this.db.collection(COLLECTIONS.webhookAttempts).countDocuments(byGeneration),
      idempotencyKeys: await this.db.collection(COLLECTIONS.idempotencyKeys).countDocuments(byGeneration),
      inFlight: (await this.inFlight.members(doc.user_id)).some((member) => member.equals(doc._id)),
      jobs: await this.jobsOf(id),
    };
  }

  /** Ids of the jobs in any queue whose data names the generation, or one of its webhook messages. */
  private async jobsOf(id: string): Promise<string[]> {
    const found: string[] = [];
    for (const name of Object.values(QUEUES)) {
      for (const job of await this.queues.queue(name).getJobs([...JOB_STATES])) {
        const data = job.data as { generationId?: string; messageId?: string };
        if (data.generationId === id || data.messageId?.startsWith(`msg_${id}_`)) found.push(job.id ?? '?');
      }
    }
    return found.sort();
  }

  /** The ids every run's jobs would have: what a seeded generation of `run` runs holds. */
  static jobIdsOf(doc: GenerationDocument): string[] {
    const id = doc._id.toHexString();
    const ids = [webhookMessageId(id, 'generation.started', doc.run)];
    for (let run = 1; run <= doc.run; run++) ids.push(generationJobId(id, run), deadlineJobId(id, run));
    return ids.sort();
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await this.queues.close();
    this.redis.disconnect();
    await this.client.close();
    await this.env.cleanup();
  }
}

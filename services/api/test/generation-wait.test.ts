import { ObjectId } from 'mongodb';
import pino from 'pino';
import type { Generation, GenerationStatus } from '@imagegen/shared';
import {
  GenerationEvents,
  createRedis,
  newGeneration,
  redisReady,
  type GenerationDocument,
  type RedisClient,
} from '@imagegen/core';
import { SETTINGS } from '../../../test/support/generation-settings';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { eventually } from '../../../test/support/lifecycle';
import { EventHub } from '../src/infra/event-hub';
import type { GenerationService } from '../src/generations/generation.service';
import { GenerationWaitService } from '../src/generations/generation-wait.service';

/**
 * The generations a wait follows, as the service answers them: the record each holds now, and how
 * many times a wait read it. Only what the wait calls is here; the record lives in memory, since
 * what is under test is when the wait reads it.
 */
class Records {
  readonly reads = new Map<string, number>();
  private readonly docs = new Map<string, GenerationDocument>();

  make(): GenerationDocument {
    const doc = newGeneration(new ObjectId(), 'a waited lighthouse', SETTINGS);
    this.docs.set(doc._id.toHexString(), doc);
    return doc;
  }

  set(doc: GenerationDocument, status: GenerationStatus): void {
    this.docs.set(doc._id.toHexString(), { ...doc, status });
  }

  service(created: GenerationDocument): GenerationService {
    const view = (doc: GenerationDocument) => ({ id: doc._id.toHexString(), status: doc.status }) as Generation;
    const owned = async (_user: string, id: string) => {
      this.reads.set(id, (this.reads.get(id) ?? 0) + 1);
      const doc = this.docs.get(id);
      if (!doc) throw new Error('Generation not found');
      return doc;
    };
    return {
      create: async () => ({ generation: view(created), replayed: false }),
      owned,
      show: async (doc: GenerationDocument) => view(doc),
      get: async (user: string, id: string) => view(await owned(user, id)),
    } as unknown as GenerationService;
  }
}

/** Once `check` holds (the project's `eventually`, for a condition rather than a value). */
const until = (what: string, check: () => boolean | Promise<boolean>) =>
  eventually(what, async () => ((await check()) ? true : undefined));

describe('a create that waits (Prefer: wait)', () => {
  let env: Isolation;
  let redis: RedisClient;
  let events: GenerationEvents;
  let hub: EventHub;
  let records: Records;

  beforeAll(async () => {
    env = isolation();
    redis = createRedis({ mode: 'standalone', url: env.redisUrl }, 'fail-fast');
    await redisReady(redis, 10_000);
    events = new GenerationEvents(redis, env.queuePrefix);
    hub = EventHub.start(redis, events.channel, pino({ level: 'silent' }));
    // The hub subscribes as it starts, without waiting: the notices below need it subscribed.
    await until(
      'the hub subscribed',
      async () => ((await redis.pubsub('NUMSUB', events.channel)) as [string, number])[1] === 1,
    );
  });

  beforeEach(() => {
    records = new Records();
    looks = 0;
  });

  afterAll(async () => {
    hub?.close();
    redis?.disconnect();
    await env?.cleanup();
  });

  /** How many times a wait looked at its generation's events. */
  let looks = 0;
  const wait = (doc: GenerationDocument, seconds: number) =>
    new GenerationWaitService(records.service(doc), hub, {
      latestStatus: (id, count) => (looks++, events.latestStatus(id, count)),
    }).create(doc.user_id.toHexString(), { prompt: doc.prompt } as never, {
      waitSeconds: seconds,
      representation: 'full',
      signal: new AbortController().signal,
    });

  /** Writes the record's new status, then announces it, as the worker does. */
  const move = async (doc: GenerationDocument, status: GenerationStatus) => {
    records.set(doc, status);
    await events.append(doc._id.toHexString(), { type: 'status', status, generation: {} as never }, 1);
  };

  test('when its generation starts and then completes, then the wait answers it completed, having read the record once', async () => {
    const doc = records.make();
    await move(doc, 'pending');
    const answered = wait(doc, 10);
    await until('the wait looking', () => looks >= 1);
    // Each move's notice wakes the wait to look again (the pending one's may come late, and wake it too).
    const beforeStart = looks;
    await move(doc, 'processing');
    await until('the wait looking again', () => looks > beforeStart);
    await move(doc, 'completed');
    expect((await answered).generation.status).toBe('completed');
    // It looked as it began and at each notice; its events said pending and processing without a
    // read of the record, and the end was read once, and answered as read.
    expect(looks).toBeGreaterThanOrEqual(3);
    expect(records.reads.get(doc._id.toHexString())).toBe(1);
  });

  test('when its generation ended before the wait looked, then the wait answers at once from one read', async () => {
    const doc = records.make();
    await move(doc, 'pending');
    await move(doc, 'failed');
    expect((await wait(doc, 10)).generation.status).toBe('failed');
    // One read: the first look's. A wait that slept to its end would have read it again then.
    expect(records.reads.get(doc._id.toHexString())).toBe(1);
  });

  test('when its generation has no status event (its announcements were lost), then each notice reads the record, and the wait answers once it reads the end', async () => {
    const doc = records.make();
    const id = doc._id.toHexString();
    const answered = wait(doc, 10);
    // Its first look read the record (pending), as nothing stored says otherwise.
    await until('the first read', () => records.reads.get(id) === 1);
    // A notice with nothing stored: the record is all there is to go by.
    records.set(doc, 'completed');
    await redis.publish(events.channel, id);
    expect((await answered).generation.status).toBe('completed');
    expect(records.reads.get(id)).toBe(2);
  });

  test('when only notices follow its last status, then that status still says the generation goes on', async () => {
    const doc = records.make();
    const id = doc._id.toHexString();
    await move(doc, 'processing');
    await events.append(id, { type: 'notice', message: 'model loading', retry_in_seconds: 5 });
    expect(await events.latestStatus(id, 5)).toBe('processing');
    expect(await events.latestStatus(new ObjectId().toHexString(), 5)).toBeUndefined();
  });
});

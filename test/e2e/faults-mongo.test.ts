import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { QUEUES } from '@imagegen/shared';
import { COLLECTIONS, connectMongo, type Mongo } from '@imagegen/core';
import { ApiClient } from '../support/api-client';
import { HfEmulator, hf } from '../support/hf-emulator';
import { isolation, type Isolation } from '../support/isolation';
import { eventually } from '../support/lifecycle';
import { explainedBy, type SpawnedService } from '../support/services';
import { answered, spawnFaultServices } from '../support/faults';
import { newUser } from '../support/system';
import { bsonDocument, bsonObjectId, bsonString, throughProxy } from '../support/mongo-cut';
import { TcpProxy } from '../support/tcp-proxy';

/**
 * MongoDB taken off the network under the running services (a TCP proxy between them and the
 * server drops every connection and refuses new ones), then brought back. The test's own view of
 * the database goes around the proxy.
 */
describe('MongoDB unreachable', () => {
  let env: Isolation;
  let proxy: TcpProxy;
  let emulator: HfEmulator;
  let api: SpawnedService;
  let worker: SpawnedService;
  let mongo: Mongo;
  let redis: Redis;
  let queue: Queue;
  let client: ApiClient;

  beforeAll(async () => {
    env = isolation();
    const direct = new URL(env.mongoUri);
    proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 27017) });
    // At info, the worker says how each run ended: the log a failure message below ends with.
    const services = { ...env.env, LOG_LEVEL: 'info', MONGODB_URI: throughProxy(env.mongoUri, proxy) };
    emulator = await HfEmulator.start();
    [api, worker] = await spawnFaultServices(services, emulator, {
      // Shorter than the 8 s outage below, and long enough for a write cut off once to be retried
      // after the proxy is back (the cuts after a claim and after a write).
      WORKER_DB_RETRY_MS: '4000',
      WORKER_DB_OUTAGE_DELAY_MS: '1000',
    });
    mongo = await connectMongo(env.mongoUri);
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.generations, { connection: redis, prefix: env.queuePrefix });
    client = await newUser({ client: () => new ApiClient(api.url) });
  });

  afterAll(async () => {
    await proxy?.restore();
    await Promise.all([api?.stop(), worker?.stop()]);
    await queue?.close();
    redis?.disconnect();
    await emulator?.close();
    await mongo?.client.close();
    await proxy?.close();
    await env?.cleanup();
  });

  afterEach(async () => {
    await proxy.restore();
  });

  /**
   * A generation whose first completing try is cut off: its render is held at the provider for a
   * second, and the proxy cuts every connection just after the server answered the first message
   * of the worker that holds all of `markers`, then lets them through again. Its id.
   */
  async function cutWhileCompleting(model: string, markers: (id: string) => Buffer[]): Promise<string> {
    emulator.always(model, hf.png(1_000));
    const { id } = await client.create({ prompt: `a cut of ${model}`, model });
    await emulator.waitForRequests(model, 1);
    await explainedBy({ api, worker }, proxy.cutAfterAnswerTo(markers(id)));
    await proxy.restore();
    // The cut took the API's connections too; its first reads after may still answer 503.
    await eventually('the API serves again', async () => ((await client.get(id)).status === 200 ? true : undefined));
    return id;
  }

  /**
   * The record once ended, within 15 s: well before the 30 s after which other writers make an
   * abandoned claim's write, and the two minutes after which the reconciler looks at a record.
   */
  const ended = (id: string) =>
    explainedBy({ api, worker }, client.waitFor(id, ['completed', 'failed', 'canceled'], 15_000));

  /** The job once BullMQ has finished it and counted the attempt, a moment after the record ended. */
  const finishedJob = (id: string) =>
    eventually('the job to be finished', async () => {
      const finished = await queue.getJob(id);
      return finished?.finishedOn ? finished : undefined;
    });

  test('when MongoDB is unreachable, then the API answers 503 (readyz too) without crashing, and recovers by itself', async () => {
    emulator.always('test/api-outage', hf.png());
    const created = await client.create({ prompt: 'a lantern', model: 'test/api-outage' });
    const pid = api.child.pid;

    await proxy.cut();

    const poll = await answered('a poll', client.get(created.id));
    expect(poll).toMatchObject({ status: 503, body: { success: false } });
    expect(poll.headers.get('retry-after')).toBeTruthy();
    const create = await answered('a create', client.request('POST', '/api/generations', { prompt: 'a storm' }));
    expect(create.status).toBe(503);
    const login = await answered(
      'a login',
      new ApiClient(api.url).request('POST', '/api/auth/login', {
        email: 'someone@example.com',
        password: 'password123',
      }),
    );
    expect(login.status).toBe(503);
    const ready = await answered('readyz', client.request('GET', '/readyz'));
    expect(ready).toMatchObject({ status: 503, body: { data: { mongodb: 'unreachable', redis: 'ok' } } });
    expect((await client.request('GET', '/healthz')).status).toBe(200);

    await proxy.restore();

    await eventually('the API serves again', async () =>
      (await client.get(created.id)).status === 200 ? true : undefined,
    );
    expect(api.child.pid).toBe(pid);
    expect(api.child.exitCode).toBeNull();
    expect((await client.request('GET', '/readyz')).status).toBe(200);
  });

  test('when MongoDB goes away while HF renders and while jobs wait, then the worker waits it out and fails nothing', async () => {
    const model = 'test/worker-outage';
    emulator.always(model, hf.png(2_000));
    // With one job at a time: the first is rendering when MongoDB goes, the second starts during the outage.
    const rendering = await client.create({ prompt: 'a glacier', model });
    const waiting = await client.create({ prompt: 'a desert', model });
    await emulator.waitForRequests(model, 1);

    await proxy.cut();
    // Long enough for HF to answer, the completing write to give up, and the job to come back.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const during = await mongo.db
      .collection(COLLECTIONS.generations)
      .find({ _id: { $in: [new ObjectId(rendering.id), new ObjectId(waiting.id)] } })
      .toArray();
    expect(during.map((doc) => doc.status)).not.toContain('failed');
    await proxy.restore();

    for (const { id } of [rendering, waiting]) {
      // Bounded below the test's own timeout, so that a wait that runs out says why.
      const done = await explainedBy({ api, worker }, client.waitFor(id, ['completed', 'failed', 'canceled'], 40_000));
      expect(done).toMatchObject({ status: 'completed', error: null });
      // The outage spent none of the job's attempts: the one attempt made is the one that completed,
      // and no failed attempt left a stack trace.
      const job = await finishedJob(id);
      expect(job.attemptsMade).toBe(1);
      expect(job.stacktrace).toEqual([]);
    }
    expect(worker.child.exitCode).toBeNull();
  });

  test('when the connection drops just after the worker claimed a completion, then its next try completes the run: images kept, nothing left waiting', async () => {
    // The first write of a completion is its claim on the record's revision (1, once started),
    // which carries the completed record's fields: the server takes it, and the worker never hears so.
    const id = await cutWhileCompleting('test/claim-cut', (id) => [
      bsonString('_id', `generation:${id}:1`),
      bsonString('status', 'completed'),
    ]);

    const done = await ended(id);
    expect(done).toMatchObject({ status: 'completed', error: null });
    const image = await client.image(id);
    expect(image.status).toBe(200);
    expect(image.bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(image.bytes.length).toBe(done.image?.size_bytes);
    const job = await finishedJob(id);
    expect(job.attemptsMade).toBe(1);
    expect(job.stacktrace).toEqual([]);
  });

  test('when the connection drops just after the completing write landed, then the next try finds the run completed by it, and counts it once', async () => {
    // The completing write itself (an update of this record whose $set holds the status), after its claim.
    const id = await cutWhileCompleting('test/answer-cut', (id) => [
      bsonObjectId('_id', id),
      bsonDocument('$set'),
      bsonString('status', 'completed'),
    ]);

    expect(await ended(id)).toMatchObject({ status: 'completed', error: null });
    expect((await finishedJob(id)).attemptsMade).toBe(1);
    // The retry found the record completed by this very run, whose answer was lost: the run is
    // counted, as completed, with its image.
    const usage = await mongo.db
      .collection(COLLECTIONS.usage)
      .find({ generation_id: new ObjectId(id) })
      .toArray();
    expect(usage).toEqual([expect.objectContaining({ _id: `${id}:1`, outcome: 'completed', images: 1 })]);
  });
});

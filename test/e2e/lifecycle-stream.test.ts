import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, type ApiFailure, type ApiSuccess, type Generation, type GenerationEvent } from '@imagegen/shared';
import { dataOf, type ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { SseClients, type SseClient } from '../support/sse';
import { newUser, startSystem, type System } from '../support/system';

/**
 * A generation's life as its live event stream tells it, across processes: the API writes
 * `pending`, the worker (another process) writes `processing`, notices and the end, and the API
 * streams them all from Redis. Also the stream token, `Prefer: wait`, queue standing and
 * idempotent creates.
 */

/** Long enough for the slow emulator answers below; the worker never gives up on them first. */
const PATIENT_HF = { HF_TIMEOUT_MS: '60000', HF_MAX_WAIT_MS: '120000' };

type Created = ApiSuccess<Generation>;

/** `status:pending`, `notice`, … : the shape of a stream, for comparing whole sequences. */
const shapeOf = (stream: SseClient) =>
  (stream.data as GenerationEvent[]).map((e) => (e.type === 'status' ? `status:${e.status}` : e.type));

/** A data URL, short enough for a failure message. */
const brief = (url: string | null) => (url === null ? null : `${url.slice(0, 22)}… (${url.length} chars)`);

describe('one system, four worker slots', () => {
  let system: System;
  let alice: ApiClient;
  let bob: ApiClient;
  const streams = new SseClients();

  beforeAll(async () => {
    system = await startSystem({ workerEnv: PATIENT_HF });
    alice = await newUser(system, 'alice');
    bob = await newUser(system, 'bob');
  });

  afterAll(async () => {
    streams.closeAll();
    await system?.stop();
  });

  const eventsUrl = (id: string) => `${system.api.url}/api/generations/${id}/events`;
  const follow = (client: ApiClient, id: string, headers: Record<string, string> = {}) =>
    streams.open(eventsUrl(id), { authorization: `Bearer ${client.token}`, ...headers });

  describe('the stream of a run', () => {
    test('when a generation meets a cold start and then completes, then one stream shows pending, processing, the notice and completed, in order, and ends by itself', async () => {
      const model = 'test/stream-cold-start';
      system.emulator.script(model, hf.coldStart(model, 0.3), hf.png(300));
      const created = await alice.create({ prompt: 'a lighthouse in fog', model });
      const stream = await follow(alice, created.id);
      expect(stream.status).toBe(200);

      // The worker is asking Hugging Face again after the cold start: it cannot have completed yet,
      // so whatever `completed` the stream shows reaches it live, from the worker's process.
      await system.emulator.waitForRequests(model, 2);
      expect(shapeOf(stream)).not.toContain('status:completed');
      expect(stream.done).toBe(false);

      await stream.ended();
      expect(shapeOf(stream)).toEqual(['status:pending', 'status:processing', 'notice', 'status:completed']);
      const [pending, processing, notice, completed] = stream.data as GenerationEvent[];
      expect(pending).toMatchObject({ generation: { id: created.id, status: 'pending' } });
      expect(processing).toMatchObject({ generation: { id: created.id, status: 'processing', attempts: 1 } });
      expect(notice).toMatchObject({ type: 'notice', message: expect.stringMatching(/loading/) });
      expect((notice as { retry_in_seconds: number }).retry_in_seconds).toBeGreaterThan(0);
      expect(completed).toMatchObject({
        generation: { id: created.id, status: 'completed', error: null, image: { mime_type: 'image/png' } },
      });
      // Every event carries its Redis stream id, increasing.
      const ids = stream.events.map((e) => e.id ?? '');
      expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
      expect(ids).toEqual([...ids].sort(byStreamId));
      expect(new Set(ids).size).toBe(ids.length);

      expect(await alice.waitFor(created.id)).toMatchObject({ status: 'completed' });
    });

    test('when Hugging Face refuses the model, then the stream shows pending, processing, failed with the reason, and ends', async () => {
      const model = 'test/stream-not-found';
      system.emulator.script(model, hf.notFound(model));
      const created = await alice.create({ prompt: 'a lighthouse that fails', model });
      const stream = await follow(alice, created.id);

      await stream.ended();
      expect(shapeOf(stream)).toEqual(['status:pending', 'status:processing', 'status:failed']);
      expect(stream.data.at(-1)).toMatchObject({
        generation: { id: created.id, status: 'failed', error: expect.stringMatching(/not found/) },
      });
    });

    test('when a running generation is canceled, then the stream shows pending, processing, canceled, and ends', async () => {
      const model = 'test/stream-cancel';
      system.emulator.script(model, hf.png(30_000));
      const created = await alice.create({ prompt: 'a lighthouse never finished', model });
      const stream = await follow(alice, created.id);
      await stream.waitFor('processing', (c) => shapeOf(c).includes('status:processing'));
      await system.emulator.waitForRequests(model, 1);

      const canceled = await alice.request('POST', `/api/generations/${created.id}/cancel`);
      expect(canceled.status).toBe(200);
      await stream.ended();
      expect(shapeOf(stream)).toEqual(['status:pending', 'status:processing', 'status:canceled']);
      expect(stream.data.at(-1)).toMatchObject({
        generation: { status: 'canceled', cancel_reason: 'user' },
      });

      // A replay from the start tells the same story, and the worker added nothing after the end.
      const replay = await follow(alice, created.id);
      await replay.ended();
      expect(replay.events.map((e) => e.id)).toEqual(stream.events.map((e) => e.id));
    });
  });

  test('when a client drops its stream and reconnects with Last-Event-ID, then it gets the rest: nothing missed, nothing twice', async () => {
    const model = 'test/stream-resume';
    system.emulator.script(model, hf.coldStart(model, 0.3), hf.coldStart(model, 0.3), hf.png(300));
    const created = await alice.create({ prompt: 'a lighthouse, resumed', model });

    const first = await follow(alice, created.id);
    await first.waitFor('two events', (c) => c.events.length >= 2);
    first.close();
    const seen = first.events.map((e) => e.id);
    const last = first.lastEventId;
    expect(last).toBeDefined();
    expect(seen.at(-1)).toBe(last);

    const resumed = await follow(alice, created.id, { 'last-event-id': last! });
    expect(resumed.status).toBe(200);
    await resumed.ended();

    const full = await follow(alice, created.id);
    await full.ended();
    expect(shapeOf(full)).toEqual(['status:pending', 'status:processing', 'notice', 'notice', 'status:completed']);
    const all = full.events.map((e) => e.id);
    expect([...seen, ...resumed.events.map((e) => e.id)]).toEqual(all);
    expect(resumed.data).toEqual(full.data.slice(seen.length));
  });

  describe('stream tokens', () => {
    let generation: Generation;
    let other: Generation;
    let token: string;
    let url: URL;

    beforeAll(async () => {
      generation = await alice.create({ prompt: 'a lighthouse for a browser', model: 'test/stream-token' });
      other = await alice.create({ prompt: 'another lighthouse', model: 'test/stream-token' });
      const reply = await alice.request<ApiSuccess<{ token: string; expires_in: number; url: string }>>(
        'POST',
        `/api/generations/${generation.id}/events/token`,
      );
      expect(reply.status).toBe(200);
      expect(reply.body.data.expires_in).toBe(300);
      token = reply.body.data.token;
      url = new URL(reply.body.data.url);
    });

    test('when the token URL is opened without an Authorization header, then it streams the generation to its end', async () => {
      expect(url.pathname).toBe(`/api/generations/${generation.id}/events`);
      expect(url.searchParams.get('token')).toBe(token);

      // The URL is under PUBLIC_BASE_URL; the spawned API listens elsewhere.
      const stream = await streams.open(`${system.api.url}${url.pathname}${url.search}`);
      expect(stream.status).toBe(200);
      await stream.ended();
      expect(shapeOf(stream)[0]).toBe('status:pending');
      expect(shapeOf(stream).at(-1)).toBe('status:completed');
      expect(stream.data.at(-1)).toMatchObject({ generation: { id: generation.id } });
    });

    test('when the stream token is used as a bearer token on the generation, then the answer is 401', async () => {
      const reply = await alice.request('GET', `/api/generations/${generation.id}`, undefined, {
        authorization: `Bearer ${token}`,
      });
      expect(reply.status).toBe(401);
      expect(JSON.stringify(reply.body)).not.toContain(generation.prompt);

      // Nor on its own events: a stream token goes in ?token= only.
      const asBearer = await streams.open(eventsUrl(generation.id), { authorization: `Bearer ${token}` });
      expect(asBearer.status).toBe(401);
    });

    test("when the stream token is used on another generation's events, then the answer is 401", async () => {
      const stream = await streams.open(`${eventsUrl(other.id)}?token=${encodeURIComponent(token)}`);
      expect(stream.status).toBe(401);
      expect(stream.headers.get('content-type')).toMatch(/json/);
      expect(((await stream.body()) as ApiFailure).success).toBe(false);
    });

    test('when the events are opened with no token at all, or a login token in ?token=, then the answer is 401', async () => {
      expect((await streams.open(eventsUrl(generation.id))).status).toBe(401);
      const login = await streams.open(`${eventsUrl(generation.id)}?token=${encodeURIComponent(alice.token!)}`);
      expect(login.status).toBe(401);
    });

    test("when another user opens a user's generation events, then the answer is 404", async () => {
      const asBob = await follow(bob, generation.id);
      expect(asBob.status).toBe(404);
      expect(JSON.stringify(await asBob.body())).not.toContain(generation.prompt);
      // Nor can Bob get a stream token for it.
      const minted = await bob.request('POST', `/api/generations/${generation.id}/events/token`);
      expect(minted.status).toBe(404);
    });
  });

  describe('Prefer: wait', () => {
    test('when Prefer: wait=10 and Hugging Face answers fast, then the create answers 200 with the completed record and its image', async () => {
      const reply = await alice.request<Created>(
        'POST',
        '/api/generations',
        { prompt: 'a quick lighthouse', model: 'test/prefer-fast' },
        { prefer: 'wait=10' },
      );
      expect(reply.status).toBe(200);
      expect(reply.headers.get('preference-applied')).toBe('wait=10');
      expect(reply.body.data).toMatchObject({ status: 'completed', error: null, image: { mime_type: 'image/png' } });
      expect(reply.body.data.image_url).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      expect(reply.headers.get('location')).toMatch(new RegExp(`/api/generations/${reply.body.data.id}$`));
    });

    test('when Prefer: wait=1 and Hugging Face is slow, then the create answers 202 with the record not yet ended', async () => {
      const model = 'test/prefer-slow';
      system.emulator.script(model, hf.png(10_000));
      const reply = await alice.request<Created>(
        'POST',
        '/api/generations',
        { prompt: 'a slow lighthouse', model },
        { prefer: 'wait=1' },
      );
      expect(reply.status).toBe(202);
      expect(reply.headers.get('preference-applied')).toBe('wait=1');
      expect(['pending', 'processing']).toContain(reply.body.data.status);
      expect(reply.body.data.image_url).toBeNull();
      expect((await alice.request('POST', `/api/generations/${reply.body.data.id}/cancel`)).status).toBe(200);
    });

    test('when Prefer: wait=999, then the wait is capped: Preference-Applied says wait=60', async () => {
      const reply = await alice.request<Created>(
        'POST',
        '/api/generations',
        { prompt: 'a patient lighthouse', model: 'test/prefer-capped' },
        { prefer: 'wait=999' },
      );
      expect(reply.headers.get('preference-applied')).toBe('wait=60');
      expect(reply.status).toBe(200);
      expect(reply.body.data.status).toBe('completed');
    });

    test('when Prefer: wait=10, return=minimal, then the completed record comes without its bytes, and its URLs serve them', async () => {
      const reply = await alice.request<Created>(
        'POST',
        '/api/generations',
        { prompt: 'a lighthouse, briefly', model: 'test/prefer-minimal', num_images: 2 },
        { prefer: 'wait=10, return=minimal' },
      );
      expect(reply.status).toBe(200);
      expect(reply.headers.get('preference-applied')).toBe('wait=10, return=minimal');
      expect(reply.headers.get('vary')).toMatch(/\bPrefer\b/);
      const generation = reply.body.data;
      expect(generation).toMatchObject({ status: 'completed', image_url: null, image: { mime_type: 'image/png' } });
      expect(generation.images).toHaveLength(2);
      // Each URL the minimal record names answers the image whose size the record gives.
      const path = (url: string) => new URL(url).pathname;
      const first = await alice.raw(path(generation.urls.image!));
      expect(first.status).toBe(200);
      expect(first.bytes.length).toBe(generation.image!.size_bytes);
      for (const image of generation.images) {
        const answer = await alice.raw(path(image.url));
        expect(answer.bytes.length).toBe(image.size_bytes);
      }
      // The full record of the same generation carries the first image's bytes, as by default.
      const full = await alice.get(generation.id);
      expect(dataOf(full).image_url).toBe(`data:image/png;base64,${first.bytes.toString('base64')}`);
      expect(full.headers.get('preference-applied')).toBeNull();
      expect(full.headers.get('vary')).toMatch(/\bPrefer\b/);
    });

    test("when a get asks Prefer: return=minimal, then image_url is null, and its ETag is not the full answer's", async () => {
      const done = await alice.request<Created>(
        'POST',
        '/api/generations',
        { prompt: 'a lighthouse, polled', model: 'test/prefer-minimal-get' },
        { prefer: 'wait=10' },
      );
      expect(done.body.data.status).toBe('completed');
      const id = done.body.data.id;
      // A get does not wait: of the two, only return=minimal is applied.
      const minimal = await alice.request<Created>('GET', `/api/generations/${id}`, undefined, {
        prefer: 'wait=10, return=minimal',
      });
      expect(minimal.status).toBe(200);
      expect(minimal.headers.get('preference-applied')).toBe('return=minimal');
      expect(minimal.body.data).toMatchObject({ id, status: 'completed', image_url: null });
      expect(minimal.body.data.image).toEqual(done.body.data.image);
      const full = await alice.get(id);
      expect(dataOf(full).image_url).toBe(done.body.data.image_url);
      expect(minimal.headers.get('etag')).not.toBe(full.headers.get('etag'));
      // A cached full answer's ETag does not make a minimal request answer 304, nor the reverse;
      // each answers 304 to its own.
      // `max-age=0`, as a browser revalidates: given If-None-Match alone, fetch adds `Cache-Control:
      // no-cache`, which asks the server for the whole answer.
      const revalidate = (prefer: Record<string, string>, etag: string) =>
        alice.request('GET', `/api/generations/${id}`, undefined, {
          ...prefer,
          'if-none-match': etag,
          'cache-control': 'max-age=0',
        });
      const minimalEtag = minimal.headers.get('etag')!;
      const fullEtag = full.headers.get('etag')!;
      expect((await revalidate({ prefer: 'return=minimal' }, fullEtag)).status).toBe(200);
      expect((await revalidate({}, minimalEtag)).status).toBe(200);
      expect((await revalidate({ prefer: 'return=minimal' }, minimalEtag)).status).toBe(304);
      expect((await revalidate({}, fullEtag)).status).toBe(304);
    });

    test('when Prefer asks return=representation, an unknown preference, or has return=minimal only as a parameter, then the answer is the full record, with no Preference-Applied', async () => {
      const done = await alice.request<Created>(
        'POST',
        '/api/generations',
        { prompt: 'a lighthouse, in full', model: 'test/prefer-representation' },
        { prefer: 'wait=10' },
      );
      for (const prefer of ['return=representation', 'return=minimalist', 'x-unknown=minimal', 'foo; return=minimal']) {
        const reply = await alice.request<Created>('GET', `/api/generations/${done.body.data.id}`, undefined, {
          prefer,
        });
        expect({ prefer, status: reply.status, applied: reply.headers.get('preference-applied') }).toEqual({
          prefer,
          status: 200,
          applied: null,
        });
        expect(reply.body.data.image_url).toBe(done.body.data.image_url);
      }
    });

    test('when there is no Prefer header, then the create answers 202 at once with no Preference-Applied', async () => {
      const reply = await alice.request<Created>('POST', '/api/generations', {
        prompt: 'an impatient lighthouse',
        model: 'test/prefer-none',
      });
      expect(reply.status).toBe(202);
      expect(reply.headers.get('preference-applied')).toBeNull();
      expect(reply.body.data.status).toBe('pending');
    });
  });

  describe('Idempotency-Key', () => {
    let redis: Redis;
    let queue: Queue;

    beforeAll(() => {
      redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
      queue = new Queue(QUEUES.generations, { connection: redis, prefix: system.env.queuePrefix });
    });

    afterAll(async () => {
      await queue?.close();
      redis?.disconnect();
    });

    const key = () => `key-${randomBytes(8).toString('hex')}`;
    const post = (client: ApiClient, body: Record<string, unknown>, idempotencyKey: string) =>
      client.request<Created | ApiFailure>('POST', '/api/generations', body, { 'idempotency-key': idempotencyKey });

    /** Jobs of every state in the generations queue that run this generation. */
    async function jobsFor(id: string): Promise<number> {
      const jobs = await queue.getJobs(['active', 'wait', 'delayed', 'completed', 'failed', 'prioritized']);
      return jobs.filter((job) => (job.data as { generationId?: string }).generationId === id).length;
    }

    test('when two identical requests with one key arrive together, then both answer the same generation, one as a replay, with one job and one record', async () => {
      const idempotencyKey = key();
      const prompt = `a lighthouse, once only ${idempotencyKey}`;
      // Slow, so that both answers see it still running (a replay answers 200 once it has ended).
      const model = 'test/idempotent-slow';
      system.emulator.script(model, hf.png(30_000));
      const body = { prompt, model };
      const [a, b] = await Promise.all([post(alice, body, idempotencyKey), post(alice, body, idempotencyKey)]);

      expect([a.status, b.status]).toEqual([202, 202]);
      const id = (a.body as Created).data.id;
      expect((b.body as Created).data.id).toBe(id);
      const replayed = [a, b].map((r) => r.headers.get('idempotent-replayed'));
      expect(replayed.sort()).toEqual(['true', null].sort());

      expect(await jobsFor(id)).toBe(1);
      const mine = (await alice.list('?limit=100')).items.filter((item) => item.prompt === prompt);
      expect(mine.map((item) => item.id)).toEqual([id]);
      // One run: Hugging Face was asked once.
      await system.emulator.waitForRequests(model, 1);
      expect(system.emulator.requestsFor(model)).toHaveLength(1);
      expect((await alice.request('POST', `/api/generations/${id}/cancel`)).status).toBe(200);
    });

    test('when the same key comes again after the generation completed, then the replay is the completed record, image and all', async () => {
      const idempotencyKey = key();
      const body = { prompt: 'a lighthouse, asked twice', model: 'test/idempotent' };
      const first = await post(alice, body, idempotencyKey);
      expect(first.status).toBe(202);
      const id = (first.body as Created).data.id;
      const done = await alice.waitFor(id);
      expect(done.status).toBe('completed');

      const again = await post(alice, body, idempotencyKey);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((again.body as Created).data).toMatchObject({ id, status: 'completed' });
      // The record as GET shows it: a completed generation carries its image as a data URL.
      expect(brief((again.body as Created).data.image_url)).toBe(brief(done.image_url));
      expect(await jobsFor(id)).toBe(1);
    });

    test('when the same key comes again with Prefer: return=minimal, then the replay is the completed record without its bytes, with or without a wait', async () => {
      const idempotencyKey = key();
      const body = { prompt: 'a lighthouse, asked briefly', model: 'test/idempotent' };
      const first = await post(alice, body, idempotencyKey);
      const id = (first.body as Created).data.id;
      expect((await alice.waitFor(id)).status).toBe('completed');

      for (const prefer of ['return=minimal', 'wait=10, return=minimal']) {
        const again = await alice.request<Created>('POST', '/api/generations', body, {
          'idempotency-key': idempotencyKey,
          prefer,
        });
        expect({ prefer, replayed: again.headers.get('idempotent-replayed'), status: again.status }).toEqual({
          prefer,
          replayed: 'true',
          status: 200,
        });
        expect(again.body.data).toMatchObject({ id, status: 'completed', image_url: null });
      }
      expect(await jobsFor(id)).toBe(1);
    });

    test('when the same key comes with a different body, then the answer is 422 and nothing is created', async () => {
      const idempotencyKey = key();
      const first = await post(alice, { prompt: 'a red lighthouse', model: 'test/idempotent' }, idempotencyKey);
      expect(first.status).toBe(202);
      const before = (await alice.list('?limit=100')).items.length;

      const other = await post(alice, { prompt: 'a blue lighthouse', model: 'test/idempotent' }, idempotencyKey);
      expect(other.status).toBe(422);
      expect((other.body as ApiFailure).message).toMatch(/different request body/);
      expect((await alice.list('?limit=100')).items.length).toBe(before);
    });

    test("when another user sends the same key and body, then it is that user's own, new generation", async () => {
      const idempotencyKey = key();
      const body = { prompt: 'a shared lighthouse', model: 'test/idempotent' };
      const asAlice = await post(alice, body, idempotencyKey);
      const asBob = await post(bob, body, idempotencyKey);

      expect([asAlice.status, asBob.status]).toEqual([202, 202]);
      expect(asBob.headers.get('idempotent-replayed')).toBeNull();
      const bobs = (asBob.body as Created).data;
      expect(bobs.id).not.toBe((asAlice.body as Created).data.id);
      expect(bobs.user_id).not.toBe((asAlice.body as Created).data.user_id);
      expect((await bob.get(bobs.id)).status).toBe(200);
      expect(await jobsFor(bobs.id)).toBe(1);
    });

    test('when the key is 256 characters, then the answer is 400 naming headers.idempotency-key; 255 is accepted', async () => {
      const tooLong = await post(alice, { prompt: 'a lighthouse', model: 'test/idempotent' }, 'k'.repeat(256));
      expect(tooLong.status).toBe(400);
      expect((tooLong.body as ApiFailure).errors?.map((e) => e.field)).toEqual(['headers.idempotency-key']);

      const longest = await post(alice, { prompt: 'a lighthouse', model: 'test/idempotent' }, 'k'.repeat(255));
      expect(longest.status).toBe(202);
    });
  });
});

describe('one worker slot: queue standing', () => {
  let system: System;
  let carol: ApiClient;

  beforeAll(async () => {
    system = await startSystem({ workerEnv: { ...PATIENT_HF, WORKER_CONCURRENCY: '1' } });
    carol = await newUser(system, 'carol');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const record = async (id: string): Promise<Generation> => {
    const reply = await carol.get(id);
    if (reply.status !== 200 || !reply.body.success) throw new Error(`GET ${id}: ${reply.status}`);
    return reply.body.data;
  };
  const cancel = async (id: string) =>
    expect((await carol.request('POST', `/api/generations/${id}/cancel`)).status).toBe(200);

  test('when the only slot is busy, then the waiting generations are 1st and 2nd in line with no estimate; after a completion the estimate is a number', async () => {
    const blocker = 'test/queue-blocker';
    system.emulator.script(blocker, hf.png(60_000));
    const running = await carol.create({ prompt: 'the one running', model: blocker });
    await system.emulator.waitForRequests(blocker, 1);
    const second = await carol.create({ prompt: 'next in line', model: 'test/queue-fast' });
    const third = await carol.create({ prompt: 'after that', model: 'test/queue-fast' });

    expect(await record(running.id)).toMatchObject({
      status: 'processing',
      queue_position: null,
      estimated_start_seconds: null,
    });
    // Nothing has completed yet, so there is nothing to estimate from.
    expect(await record(second.id)).toMatchObject({
      status: 'pending',
      queue_position: 1,
      estimated_start_seconds: null,
    });
    expect(await record(third.id)).toMatchObject({
      status: 'pending',
      queue_position: 2,
      estimated_start_seconds: null,
    });

    // Freeing the slot lets the two waiting ones run and complete.
    await cancel(running.id);
    expect(await carol.waitFor(second.id)).toMatchObject({ status: 'completed', queue_position: null });
    expect(await carol.waitFor(third.id)).toMatchObject({ status: 'completed' });

    // With runs on record, a waiting generation gets an estimate.
    const blocker2 = 'test/queue-blocker-2';
    system.emulator.script(blocker2, hf.png(60_000));
    const runningAgain = await carol.create({ prompt: 'the next one running', model: blocker2 });
    await system.emulator.waitForRequests(blocker2, 1);
    const waiting = await carol.create({ prompt: 'waiting with an estimate', model: 'test/queue-fast' });
    const standing = await record(waiting.id);
    expect(standing).toMatchObject({ status: 'pending', queue_position: 1 });
    expect(typeof standing.estimated_start_seconds).toBe('number');
    expect(standing.estimated_start_seconds).toBeGreaterThanOrEqual(0);
    expect((await record(runningAgain.id)).queue_position).toBeNull();

    await cancel(waiting.id);
    await cancel(runningAgain.id);
  });
});

/** Redis stream ids (`ms-seq`) in order. */
function byStreamId(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}

import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { MAX_RUNS, generationJobId, type ApiFailure } from '@imagegen/shared';
import { COLLECTIONS } from '@imagegen/core';
import { ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, send, signIn } from './admin-support';
import { startHarness, startTestApi, subjectOf, type Harness } from './api-harness';
import { configErrorOf } from './config-error';
import { ApiClient } from '../../../test/support/api-client';
import type { RunningApi } from '../src/server';

describe('per-user rate limit on creates', () => {
  let h: Harness;
  let second: { api: RunningApi; baseUrl: string };

  beforeAll(async () => {
    const limits = { CREATE_RATE_LIMIT: '3', CREATE_RATE_WINDOW: '1h', MAX_IN_FLIGHT_PER_USER: '100' };
    h = await startHarness(limits);
    // A second API instance on the same Redis and database: the limit must hold across both.
    second = await startTestApi(h.iso, limits);
  });

  afterAll(async () => {
    await second?.api.stop();
    await h?.stop();
  });

  test('when a user goes over the rate, across two API instances, then the next create is a 429 with Retry-After and writes nothing', async () => {
    const alice = await h.user('rate-alice@example.com');
    const aliceOnSecond = new ApiClient(second.baseUrl, alice.token);
    await alice.create({ prompt: 'one' });
    await aliceOnSecond.create({ prompt: 'two' });
    await alice.create({ prompt: 'three' });
    const before = await h.generationCount();

    const refused = await aliceOnSecond.request<ApiFailure>('POST', '/api/generations', { prompt: 'four' });
    expect(refused.status).toBe(429);
    expect(refused.body.message).toMatch(/at most 3/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(await h.generationCount()).toBe(before);

    // Another user's allowance is their own.
    const bob = await h.user('rate-bob@example.com');
    expect((await bob.request('POST', '/api/generations', { prompt: 'bob one' })).status).toBe(202);
  });
});

describe('per-user cap on generations in flight', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ CREATE_RATE_LIMIT: '1000', MAX_IN_FLIGHT_PER_USER: '2' });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when a user has the most generations pending allowed, then another is a 429 until one ends, and a replay of one in flight is still answered', async () => {
    const carol = await h.user('cap-carol@example.com');
    const first = await carol.request<{ data: { id: string } }>(
      'POST',
      '/api/generations',
      { prompt: 'a' },
      {
        'idempotency-key': 'first',
      },
    );
    expect(first.status).toBe(202);
    await carol.create({ prompt: 'b' });

    const refused = await carol.request<ApiFailure>('POST', '/api/generations', { prompt: 'c' });
    expect(refused.status).toBe(429);
    expect(refused.body.message).toMatch(/pending or processing/);
    expect(refused.headers.get('retry-after')).toBe('5');

    // Repeating the first request is not a new generation: it is answered, not refused.
    const replay = await carol.request<{ data: { id: string } }>(
      'POST',
      '/api/generations',
      { prompt: 'a' },
      {
        'idempotency-key': 'first',
      },
    );
    expect(replay.status).toBe(202);
    expect(replay.body.data.id).toBe(first.body.data.id);

    // One ends: room for another.
    expect((await carol.request('POST', `/api/generations/${first.body.data.id}/cancel`)).status).toBe(200);
    expect((await carol.request('POST', '/api/generations', { prompt: 'c' })).status).toBe(202);
    expect((await carol.request('POST', '/api/generations', { prompt: 'd' })).status).toBe(429);
  });

  test('when one user sends many creates at once, then exactly the cap are accepted and the rest refused with 429', async () => {
    const dave = await h.user('cap-dave@example.com');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => dave.request('POST', '/api/generations', { prompt: `at once ${i}` })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array(2).fill(202), ...Array(10).fill(429)]);
    const records = await h.db.collection(COLLECTIONS.generations).countDocuments({ prompt: { $regex: '^at once ' } });
    expect(records).toBe(2);
  });

  test('when a create cannot be written, then its place under the cap is given back', async () => {
    const erin = await h.user('cap-erin@example.com');
    // A webhook to a private address is refused after the cap was checked.
    for (let i = 0; i < 3; i++) {
      const refused = await erin.request('POST', '/api/generations', {
        prompt: 'with a private hook',
        webhook_url: 'http://127.0.0.1:9/hook',
      });
      expect(refused.status).toBe(400);
    }
    expect((await erin.request('POST', '/api/generations', { prompt: 'one' })).status).toBe(202);
    expect((await erin.request('POST', '/api/generations', { prompt: 'two' })).status).toBe(202);
    expect((await erin.request('POST', '/api/generations', { prompt: 'three' })).status).toBe(429);
  });

  test('when generations ended but are still in the in-flight set (a worker between its two writes, or stopped there), then at the cap their records are read and they are dropped, but a young member with no record yet is kept', async () => {
    const frank = await h.user('cap-frank@example.com');
    const userId = new ObjectId(subjectOf(frank.token!));
    const redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    try {
      const key = `${h.iso.queuePrefix}:in-flight:${userId.toHexString()}`;
      const generations = h.db.collection(COLLECTIONS.generations);
      // Ended records whose ends have not reached the set: one from two minutes ago, one from now.
      const old = ObjectId.createFromTime(Math.floor(Date.now() / 1000) - 120);
      const young = new ObjectId();
      for (const _id of [old, young]) {
        await generations.insertOne({ _id, user_id: userId, prompt: 'ended', status: 'completed' });
        await redis.sadd(key, _id.toHexString());
      }
      // And a create that has reserved its place but not yet written its record.
      const writing = new ObjectId();
      await redis.sadd(key, writing.toHexString());

      // Over the cap by the set alone: both ended members are dropped, the one being written kept.
      expect((await frank.request('POST', '/api/generations', { prompt: 'fits' })).status).toBe(202);
      expect(await redis.sismember(key, old.toHexString())).toBe(0);
      expect(await redis.sismember(key, young.toHexString())).toBe(0);
      expect(await redis.sismember(key, writing.toHexString())).toBe(1);
      const refused = await frank.request<ApiFailure>('POST', '/api/generations', { prompt: 'over' });
      expect(refused.status).toBe(429);
    } finally {
      redis.disconnect();
    }
  });
});

const cancel = (client: ApiClient, id: string) => client.request('POST', `/api/generations/${id}/cancel`);
const retry = (client: ApiClient, id: string) => client.request<ApiFailure>('POST', `/api/generations/${id}/retry`);

/** A generation of the user's, canceled: ready to be retried. */
async function canceled(client: ApiClient, prompt: string): Promise<string> {
  const { id } = await client.create({ prompt });
  expect((await cancel(client, id)).status).toBe(200);
  return id;
}

describe('retries, counted as creates', () => {
  let h: Harness;
  let second: { api: RunningApi; baseUrl: string };
  let redis: Redis;
  const settings = { CREATE_RATE_LIMIT: '1000', MAX_IN_FLIGHT_PER_USER: '3', ...ADMIN_ENV };

  beforeAll(async () => {
    h = await startHarness(settings);
    second = await startTestApi(h.iso, settings);
    redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    redis?.disconnect();
    await second?.api.stop();
    await h?.stop();
  });

  const inFlight = (client: ApiClient) =>
    h.db
      .collection(COLLECTIONS.generations)
      .countDocuments({ user_id: new ObjectId(subjectOf(client.token!)), status: { $in: ['pending', 'processing'] } });
  const eventCount = (id: string) => redis.xlen(`${h.iso.queuePrefix}:generation-events:${id}`);

  test('when a user at the cap retries generations they canceled, all at once, then every retry is a 429 that changes nothing, and with one place free exactly one of them runs again', async () => {
    const grace = await h.user('retry-cap-grace@example.com');
    const ended = [await canceled(grace, 'one'), await canceled(grace, 'two'), await canceled(grace, 'three')];
    const running = [];
    for (const prompt of ['four', 'five', 'six']) running.push((await grace.create({ prompt })).id);
    const events = await Promise.all(ended.map(eventCount));

    const refused = await Promise.all(ended.map((id) => retry(grace, id)));
    expect(refused.map((a) => a.status)).toEqual([429, 429, 429]);
    expect(refused[0]!.body.message).toMatch(/pending or processing/);
    expect(refused[0]!.headers.get('retry-after')).toBe('5');
    expect(await inFlight(grace)).toBe(3);
    for (const id of ended) {
      const record = (await grace.get(id)).body as { data: { status: string; history: unknown[] } };
      expect(record.data).toMatchObject({ status: 'canceled', history: [] });
    }
    // Nothing was announced: no stream shows a `pending` that did not happen.
    expect(await Promise.all(ended.map(eventCount))).toEqual(events);

    expect((await cancel(grace, running[0]!)).status).toBe(200);
    const racing = await Promise.all([...ended, running[0]!].map((id) => retry(grace, id)));
    expect(racing.map((a) => a.status).sort()).toEqual([202, 429, 429, 429]);
    expect(await inFlight(grace)).toBe(3);
  });

  test('when many requests retry one canceled generation at once, across two API instances, then exactly one reopens it and the others are 409s', async () => {
    const heidi = await h.user('retry-race-heidi@example.com');
    const onSecond = new ApiClient(second.baseUrl, heidi.token);
    const id = await canceled(heidi, 'raced');
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => retry(i % 2 ? onSecond : heidi, id)));
    expect(answers.map((a) => a.status).sort()).toEqual([202, ...Array<number>(9).fill(409)]);
    const record = await h.db.collection(COLLECTIONS.generations).findOne({ _id: new ObjectId(id) });
    expect({ status: record?.status, run: record?.run, history: record?.history.length }).toEqual({
      status: 'pending',
      run: 2,
      history: 1,
    });
    expect(await h.queue.getJobState(generationJobId(id, 2))).toBe('waiting');
    expect(await h.queue.getJobState(generationJobId(id, 3))).toBe('unknown');
  });

  test('when a generation has run MAX_RUNS times, then its next retry is a 409 naming the bound, and its history holds the earlier runs', async () => {
    const ivan = await h.user('retry-runs-ivan@example.com');
    const id = await canceled(ivan, 'round and round');
    for (let run = 2; run <= MAX_RUNS; run++) {
      expect((await retry(ivan, id)).status).toBe(202);
      expect((await cancel(ivan, id)).status).toBe(200);
    }
    const refused = await retry(ivan, id);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain(`${MAX_RUNS} runs`);
    const record = (await ivan.get(id)).body as { data: { status: string; history: unknown[] } };
    expect(record.data.status).toBe('canceled');
    expect(record.data.history).toHaveLength(MAX_RUNS - 1);
  });

  test("when an admin retries a generation (POST /api/admin/generations/:id/retry), then the owner's cap holds for it too", async () => {
    const judy = await h.user('retry-admin-judy@example.com');
    const admin = (await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD)).client;
    const adminRetry = (id: string) =>
      send(h.baseUrl, `/api/admin/generations/${id}/retry`, { method: 'POST', token: admin.token! });
    const ended = await canceled(judy, 'retried by an admin');
    for (const prompt of ['a', 'b', 'c']) await judy.create({ prompt });

    expect((await adminRetry(ended)).status).toBe(429);
    expect(await inFlight(judy)).toBe(3);
  });
});

describe('retries, counted against the rate', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ CREATE_RATE_LIMIT: '3', CREATE_RATE_WINDOW: '1h', MAX_IN_FLIGHT_PER_USER: '100' });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when a user cancels and retries past the rate, then the retry is a 429 with Retry-After and the generation stays canceled', async () => {
    const kim = await h.user('retry-rate-kim@example.com');
    const id = await canceled(kim, 'again and again');
    expect((await retry(kim, id)).status).toBe(202);
    expect((await cancel(kim, id)).status).toBe(200);
    expect((await retry(kim, id)).status).toBe(202);
    expect((await cancel(kim, id)).status).toBe(200);

    const refused = await retry(kim, id);
    expect(refused.status).toBe(429);
    expect(refused.body.message).toMatch(/at most 3/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await kim.get(id)).body as { data: { status: string } }).data.status).toBe('canceled');
  });
});

describe('limit settings', () => {
  test.each([
    ['CREATE_RATE_LIMIT', '0'],
    ['CREATE_RATE_WINDOW', 'soon'],
    ['MAX_IN_FLIGHT_PER_USER', '-1'],
  ])('when %s is %s, then the config names it', (name, value) => {
    expect(configErrorOf({ [name]: value }).problems).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });
});

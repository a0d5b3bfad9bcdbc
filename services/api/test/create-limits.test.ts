import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { COLLECTIONS, type ApiFailure } from '@imagegen/shared';
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

describe('limit settings', () => {
  test.each([
    ['CREATE_RATE_LIMIT', '0'],
    ['CREATE_RATE_WINDOW', 'soon'],
    ['MAX_IN_FLIGHT_PER_USER', '-1'],
  ])('when %s is %s, then the config names it', (name, value) => {
    expect(configErrorOf({ [name]: value }).problems).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });
});

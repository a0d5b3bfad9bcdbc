import { ObjectId } from 'mongodb';
import { COLLECTIONS, type ApiFailure } from '@imagegen/shared';
import { startHarness, startTestApi, type Harness } from './api-harness';
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
    await h.db
      .collection(COLLECTIONS.generations)
      .updateOne({ _id: new ObjectId(first.body.data.id) }, { $set: { status: 'completed' } });
    expect((await carol.request('POST', '/api/generations', { prompt: 'c' })).status).toBe(202);
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

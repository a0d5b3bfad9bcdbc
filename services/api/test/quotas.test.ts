import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import type { AdminUser, AdminUsageReport, ApiFailure, ApiSuccess, UsageReport } from '@imagegen/shared';
import {
  COLLECTIONS,
  QuotaLedger,
  chargeOf,
  periodOf,
  utcDay,
  type GenerationDocument,
  type UsageRecord,
} from '@imagegen/core';
import { ApiClient, cancel, retry } from '../../../test/support/api-client';
import { ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, send, signIn } from './admin-support';
import { startHarness, startTestApi, subjectOf, type Harness } from './api-harness';
import { configErrorOf } from './config-error';
import type { RunningApi } from '../src/server';

const DAILY = 5;
const SETTINGS = {
  QUOTA_IMAGES_PER_DAY: String(DAILY),
  CREATE_RATE_LIMIT: '1000',
  MAX_IN_FLIGHT_PER_USER: '100',
  ...ADMIN_ENV,
};

/** What a create answers, status and envelope. */
type Answer = { status: number; headers: Headers; body: ApiSuccess<{ id: string }> | ApiFailure };

describe('image quotas (in-process APIs, real Redis and FerretDB)', () => {
  let h: Harness;
  let second: { api: RunningApi; baseUrl: string };
  let redis: Redis;
  let ledger: QuotaLedger;
  let admin: ApiClient;
  /** A user for the tests of refused requests, which change nothing. */
  let plain: ApiClient;

  beforeAll(async () => {
    h = await startHarness(SETTINGS);
    // A second API instance on the same Redis and database: the quotas must hold across both.
    second = await startTestApi(h.iso, SETTINGS);
    redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    ledger = new QuotaLedger(redis, h.iso.queuePrefix);
    admin = (await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD)).client;
    plain = await h.user('quota-refusals@example.com');
  });

  afterAll(async () => {
    redis?.disconnect();
    await second?.api.stop();
    await h?.stop();
  });

  const idOf = (client: ApiClient) => new ObjectId(subjectOf(client.token!));
  const onSecond = (client: ApiClient) => new ApiClient(second.baseUrl, client.token);
  const create = (client: ApiClient, num_images = 1, prompt = 'a quota test'): Promise<Answer> =>
    client.request('POST', '/api/generations', { prompt, num_images });
  const idIn = (answer: Answer) => (answer.body as ApiSuccess<{ id: string }>).data.id;
  const messageOf = (answer: { body: unknown }) => (answer.body as ApiFailure).message;
  /** `used` of the user's hash of the current day or month, as Redis holds it. */
  const used = async (client: ApiClient, kind: 'day' | 'month' = 'day') =>
    Number(await redis.hget(ledger.key(idOf(client), periodOf(kind, new Date())), 'used'));
  const records = (client: ApiClient) =>
    h.db.collection<GenerationDocument>(COLLECTIONS.generations).countDocuments({ user_id: idOf(client) });
  const patchUser = (client: ApiClient, body: unknown) =>
    send(h.baseUrl, `/api/admin/users/${idOf(client).toHexString()}`, { method: 'PATCH', token: admin.token!, body });
  const dailyRefusal = (usedNow: number, limit: number, asked: number) =>
    `Daily image quota reached: ${usedNow} of ${limit} images used today (UTC), and this asks for ${asked}; ` +
    `the quota resets at ${periodOf('day', new Date()).end.toISOString()}`;

  test('when creates reach the daily quota exactly, then the one that would pass it is a 429 naming the daily quota, its limit, what is used and when it resets, and writes nothing', async () => {
    const alice = await h.user('quota-edge-alice@example.com');
    expect((await create(alice, 2)).status).toBe(202);
    const tooMany = await create(alice, 4);
    expect(tooMany.status).toBe(429);
    expect(messageOf(tooMany)).toBe(dailyRefusal(2, DAILY, 4));
    expect((await create(onSecond(alice), 3)).status).toBe(202);
    expect(await used(alice)).toBe(DAILY);

    const refused = await create(alice, 1);
    expect(refused.status).toBe(429);
    expect(messageOf(refused)).toBe(dailyRefusal(DAILY, DAILY, 1));
    const untilMidnight = (periodOf('day', new Date()).end.getTime() - Date.now()) / 1000;
    expect(Math.abs(Number(refused.headers.get('retry-after')) - untilMidnight)).toBeLessThan(5);
    expect(await records(alice)).toBe(2);
    expect(await used(alice)).toBe(DAILY);
  });

  test('when one user sends many creates at once across two API instances, then exactly the quota passes and the rest are 429s naming it', async () => {
    const bob = await h.user('quota-race-bob@example.com');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => create(i % 2 ? onSecond(bob) : bob, 1, `at once ${i}`)),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(DAILY).fill(202), ...Array(12 - DAILY).fill(429)]);
    for (const refused of answers.filter((a) => a.status === 429)) {
      expect(messageOf(refused)).toBe(dailyRefusal(DAILY, DAILY, 1));
    }
    expect(await records(bob)).toBe(DAILY);
    expect(await used(bob)).toBe(DAILY);
  });

  test('when a generation is canceled, then its images are given back; a retry of it counts them again, and past the quota is refused and leaves it canceled', async () => {
    const carol = await h.user('quota-retry-carol@example.com');
    const three = idIn(await create(carol, 3));
    expect((await create(carol, 2)).status).toBe(202);
    expect((await cancel(carol, three)).status).toBe(200);
    expect(await used(carol)).toBe(2);

    expect((await retry(carol, three)).status).toBe(202);
    expect(await used(carol)).toBe(DAILY);
    expect((await cancel(carol, three)).status).toBe(200);
    expect((await create(carol, 1)).status).toBe(202);

    const refused = await retry(carol, three);
    expect(refused.status).toBe(429);
    expect(messageOf(refused)).toBe(dailyRefusal(3, DAILY, 3));
    const record = (await carol.get(three)).body as ApiSuccess<{ status: string; history: unknown[] }>;
    expect(record.data).toMatchObject({ status: 'canceled', history: [expect.anything()] });
    expect(await used(carol)).toBe(3);
  });

  test('when a failed run is given back by 8 racers at once (API and worker, a job delivered twice), then its images come back exactly once', async () => {
    const dave = await h.user('quota-racers-dave@example.com');
    const id = idIn(await create(dave, 4));
    expect((await create(dave, 1)).status).toBe(202);
    // As a worker would end it: the record failed, then the lifecycle's `ended`, here from eight
    // callers on two connections.
    const generations = h.db.collection<GenerationDocument>(COLLECTIONS.generations);
    await generations.updateOne({ _id: new ObjectId(id) }, { $set: { status: 'failed', error: 'HF said no' } });
    const failed = (await generations.findOne({ _id: new ObjectId(id) }))!;
    const other = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    try {
      const ledgers = [ledger, new QuotaLedger(other, h.iso.queuePrefix)];
      const given = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          ledgers[i % 2]!.release(failed.user_id, chargeOf(failed._id, failed.run), failed.created_at),
        ),
      );
      expect(given.sort()).toEqual([0, 0, 0, 0, 0, 0, 0, 4]);
      await Promise.all(Array.from({ length: 8 }, (_, i) => ledgers[i % 2]!.giveBack(failed)));
    } finally {
      other.disconnect();
    }
    expect(await used(dave)).toBe(1);
    expect((await create(dave, 4)).status).toBe(202);
    expect((await create(dave, 1)).status).toBe(429);
  });

  test('when the Redis hashes are lost, then the next create rebuilds them from the records (in-flight and completed runs, and a deleted generation’s, not a canceled one), and the rebuilt charges are still given back', async () => {
    const erin = await h.user('quota-rebuild-erin@example.com');
    const userId = idOf(erin);
    const pending = idIn(await create(erin, 1));
    const completed = idIn(await create(erin, 1));
    const canceled = idIn(await create(erin, 2));
    expect((await cancel(erin, canceled)).status).toBe(200);
    await h.db
      .collection<GenerationDocument>(COLLECTIONS.generations)
      .updateOne({ _id: new ObjectId(completed) }, { $set: { status: 'completed', updated_at: new Date() } });
    // A completed generation deleted since: only its usage record is left.
    const at = new Date();
    const gone = new ObjectId();
    await h.db.collection<UsageRecord>(COLLECTIONS.usage).insertOne({
      _id: chargeOf(gone, 1),
      user_id: userId,
      generation_id: gone,
      run: 1,
      model: 'acme/model',
      provider: 'hf-inference',
      images: 1,
      provider_ms: 10,
      outcome: 'completed',
      at,
      day: utcDay(at),
    });
    const now = new Date();
    const keys = [ledger.key(userId, periodOf('day', now)), ledger.key(userId, periodOf('month', now))];
    expect(await redis.del(...keys)).toBeGreaterThan(0);

    const refused = await create(onSecond(erin), 3);
    expect(refused.status).toBe(429);
    expect(messageOf(refused)).toBe(dailyRefusal(3, DAILY, 3));
    expect(await redis.hget(keys[0]!, chargeOf(new ObjectId(pending), 1))).toBe('1');
    expect((await create(erin, 2)).status).toBe(202);

    // The rebuilt charge of the run in flight is given back when it is canceled.
    expect((await cancel(erin, pending)).status).toBe(200);
    expect(await used(erin)).toBe(4);
    expect((await create(erin, 1)).status).toBe(202);
    expect((await create(erin, 1)).status).toBe(429);
  });

  test('when an admin overrides a user’s daily quota (PATCH /api/admin/users/:id), then it applies at once on every instance, leaves the role and tokens as they were, and null puts the default back', async () => {
    const frank = await h.user('quota-override-frank@example.com');
    for (const n of [3, 2]) expect((await create(frank, n)).status).toBe(202);
    expect((await create(onSecond(frank), 1)).status).toBe(429);

    const raised = await patchUser(frank, { quota: { images_per_day: 7 } });
    expect(raised.status).toBe(200);
    expect(raised.json<ApiSuccess<AdminUser>>().data).toMatchObject({
      id: idOf(frank).toHexString(),
      role: 'user',
      quota: { images_per_day: 7, images_per_month: null },
    });
    expect((await create(onSecond(frank), 2)).status).toBe(202);
    const atSeven = await create(frank, 1);
    expect(messageOf(atSeven)).toBe(dailyRefusal(7, 7, 1));

    const reset = await patchUser(frank, { quota: { images_per_day: null } });
    expect(reset.json<ApiSuccess<AdminUser>>().data.quota).toEqual({ images_per_day: null, images_per_month: null });
    expect(messageOf(await create(onSecond(frank), 1))).toBe(dailyRefusal(7, DAILY, 1));
  });

  test('when an admin sets a monthly quota, then past it a create is a 429 naming the monthly quota and the start of next month, even with the day’s quota left', async () => {
    const grace = await h.user('quota-month-grace@example.com');
    expect((await create(grace, 1)).status).toBe(202);
    expect((await patchUser(grace, { quota: { images_per_month: 2 } })).status).toBe(200);
    expect((await create(grace, 1)).status).toBe(202);
    const refused = await create(onSecond(grace), 1);
    expect(refused.status).toBe(429);
    const month = periodOf('month', new Date());
    expect(messageOf(refused)).toBe(
      'Monthly image quota reached: 2 of 2 images used this month (UTC), and this asks for 1; ' +
        `the quota resets at ${month.end.toISOString()}`,
    );
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await used(grace, 'month')).toBe(2);
  });

  test.each([
    [{ quota: { images_per_day: -1 } }, 'quota.images_per_day'],
    [{ quota: { images_per_month: 'ten' } }, 'quota.images_per_month'],
    [{ quota: { images_per_day: 1.5 } }, 'quota.images_per_day'],
    [{ quota: {} }, 'quota'],
    [{ quota: { per_day: 3 } }, 'quota.per_day'],
    [{ quota: null }, 'quota'],
    [{}, 'role'],
  ])('when the PATCH body is %j, then it is a 400 naming %s and the user is unchanged', async (body, field) => {
    const answer = await patchUser(plain, body);
    expect(answer.status).toBe(400);
    expect(answer.json().errors?.map((e) => e.field)).toEqual([field]);
    const user = await h.db.collection(COLLECTIONS.users).findOne({ _id: idOf(plain) });
    expect(user?.quota).toBeUndefined();
  });

  test('when a user asks for their usage, then the totals come from the usage records, by day, model, provider and outcome, with their quotas now (used counted where there is no limit too)', async () => {
    const ivan = await h.user('quota-usage-ivan@example.com');
    const other = await h.user('quota-usage-judy@example.com');
    expect((await create(ivan, 2)).status).toBe(202);
    const usage = h.db.collection<UsageRecord>(COLLECTIONS.usage);
    const run = (user: ApiClient, at: string, fields: Partial<UsageRecord>): UsageRecord => {
      const generation = new ObjectId();
      const when = new Date(at);
      return {
        _id: chargeOf(generation, 1),
        user_id: idOf(user),
        generation_id: generation,
        run: 1,
        model: 'acme/one',
        provider: 'hf-inference',
        images: 1,
        provider_ms: 100,
        outcome: 'completed',
        at: when,
        day: utcDay(when),
        ...fields,
      };
    };
    await usage.insertMany([
      run(ivan, '2024-03-01T10:00:00Z', { images: 4, provider_ms: 400 }),
      run(ivan, '2024-03-01T23:59:59Z', { model: 'acme/two', provider: 'fal-ai', images: 2, provider_ms: 50 }),
      run(ivan, '2024-03-02T00:00:00Z', { outcome: 'failed', images: 0, provider_ms: 30 }),
      run(ivan, '2024-03-02T08:00:00Z', { outcome: 'canceled', provider: null, images: 0, provider_ms: 0 }),
      run(ivan, '2024-04-01T00:00:00Z', { images: 3 }),
      run(other, '2024-03-01T12:00:00Z', { images: 1 }),
    ]);

    const answer = await ivan.request<ApiSuccess<UsageReport>>('GET', '/api/usage?from=2024-03-01&to=2024-03-31');
    expect(answer.status).toBe(200);
    const totals = (images: number, completed: number, failed: number, canceled: number, provider_ms: number) => ({
      images,
      runs: { completed, failed, canceled },
      provider_ms,
    });
    const report = answer.body.data;
    expect(report).toMatchObject({
      from: '2024-03-01',
      to: '2024-03-31',
      totals: totals(6, 2, 1, 1, 480),
      by_day: [
        { day: '2024-03-01', ...totals(6, 2, 0, 0, 450) },
        { day: '2024-03-02', ...totals(0, 0, 1, 1, 30) },
      ],
      by_model: [
        { model: 'acme/one', ...totals(4, 1, 1, 1, 430) },
        { model: 'acme/two', ...totals(2, 1, 0, 0, 50) },
      ],
      by_provider: [
        { provider: 'fal-ai', ...totals(2, 1, 0, 0, 50) },
        { provider: 'hf-inference', ...totals(4, 1, 1, 0, 430) },
        { provider: null, ...totals(0, 0, 0, 1, 0) },
      ],
    });
    // No monthly limit here, yet its `used` counts the create in flight.
    const now = new Date();
    expect(report.quota).toEqual({
      day: { limit: DAILY, used: 2, remaining: DAILY - 2, resets_at: periodOf('day', now).end.toISOString() },
      month: { limit: null, used: 2, remaining: null, resets_at: periodOf('month', now).end.toISOString() },
    });

    const everyone = await send(h.baseUrl, '/api/admin/usage?from=2024-03-01&to=2024-04-30', { token: admin.token! });
    expect(everyone.status).toBe(200);
    const all = everyone.json<ApiSuccess<AdminUsageReport>>().data;
    expect(all.totals).toEqual(totals(10, 4, 1, 1, 680));
    expect(all.top_users).toEqual([
      { user_id: idOf(ivan).toHexString(), email: 'quota-usage-ivan@example.com', images: 9 },
      { user_id: idOf(other).toHexString(), email: 'quota-usage-judy@example.com', images: 1 },
    ]);
    expect((await send(h.baseUrl, '/api/admin/usage', { token: ivan.token! })).status).toBe(403);
  });

  test('when no range is given, then the usage is the current UTC month', async () => {
    const kim = await h.user('quota-default-kim@example.com');
    const report = (await kim.request<ApiSuccess<UsageReport>>('GET', '/api/usage')).body.data;
    const month = periodOf('month', new Date());
    expect({ from: report.from, to: report.to }).toEqual({
      from: utcDay(month.start),
      to: utcDay(new Date(month.end.getTime() - 1)),
    });
  });

  test.each([
    ['from=2024-02-30', 'query.from'],
    ['from=2024-3-01', 'query.from'],
    ['from=2024-02-32&to=2024-01-01', 'query.from'],
    ['from=2024-03-10&to=2024-03-01', 'query.from'],
    ['from=2024-01-01&to=2025-01-01', 'query.to'],
    ['day=2024-01-01', 'query.day'],
  ])('when the usage query is %s, then it is a 400 naming %s', async (query, field) => {
    const answer = await plain.request<ApiFailure>('GET', `/api/usage?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.map((e) => e.field)).toEqual([field]);
    const asAdmin = await send(h.baseUrl, `/api/admin/usage?${query}`, { token: admin.token! });
    expect(asAdmin.json().errors?.map((e) => e.field)).toEqual([field]);
  });
});

describe('quota settings', () => {
  test.each([
    ['QUOTA_IMAGES_PER_DAY', '-1'],
    ['QUOTA_IMAGES_PER_MONTH', 'lots'],
  ])('when %s is %s, then the config names it', (name, value) => {
    expect(configErrorOf({ [name]: value }).problems).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });
});

import type { AdminUsageReport, ApiFailure, ApiSuccess, Generation, UsageReport, UsageTotals } from '@imagegen/shared';
import { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { spawnApi, type SpawnedService } from '../support/services';
import { FAST_HF, startSystem, type System } from '../support/system';

const DAILY = 4;
const FAILS = 'test/quota-fails';
const ADMIN = { ADMIN_EMAIL: 'quota-admin@example.com', ADMIN_PASSWORD: 'the quota admin password' };
/** Both instances sign and check tokens with one secret, as a deployment's do. */
const API_ENV = {
  JWT_SECRET: 'a-secret-both-instances-share-0123456789',
  QUOTA_IMAGES_PER_DAY: String(DAILY),
  CREATE_RATE_LIMIT: '1000',
  MAX_IN_FLIGHT_PER_USER: '100',
};
const TIMEOUT_MS = 120_000;

const nextMidnight = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
};
const today = () => new Date().toISOString().slice(0, 10);

/** One run of a generation, as its record tells it. */
interface Run {
  model: string;
  status: string;
  images: number;
  provider: string | null;
}

/**
 * The image quotas on the spawned services: two API instances on one Redis and MongoDB, a worker
 * drawing from the HF emulator. Exactly the quota passes when creates race across the instances;
 * a generation the worker fails gives its images back; an admin's override applies at once on
 * both; and the usage totals add up to the runs the worker made.
 */
describe('image quotas and usage across two API instances', () => {
  let system: System;
  let second: SpawnedService;
  let admin: ApiClient;

  beforeAll(async () => {
    system = await startSystem({ apiEnv: { ...API_ENV, ...ADMIN } });
    system.emulator.always(FAILS, hf.notFound(FAILS));
    second = await spawnApi({
      ...system.env.env,
      HF_TOKEN: FAST_HF.HF_TOKEN,
      HF_BASE_URL: system.emulator.baseUrl,
      ...API_ENV,
    });
    admin = system.client();
    await admin.login(ADMIN.ADMIN_EMAIL, ADMIN.ADMIN_PASSWORD);
  }, TIMEOUT_MS);

  afterAll(async () => {
    await second?.stop();
    await system?.stop();
  });

  const onSecond = (client: ApiClient) => new ApiClient(second.url, client.token);
  const create = (client: ApiClient, body: Record<string, unknown>) =>
    client.request<ApiSuccess<Generation> | ApiFailure>('POST', '/api/generations', { prompt: 'a quota', ...body });
  const idOf = (answer: { body: ApiSuccess<Generation> | ApiFailure }) =>
    (answer.body as ApiSuccess<Generation>).data.id;
  const messageOf = (answer: { body: unknown }) => (answer.body as ApiFailure).message;
  const dailyRefusal = (used: number, limit: number, asked: number) =>
    `Daily image quota reached: ${used} of ${limit} images used today (UTC), and this asks for ${asked}; ` +
    `the quota resets at ${nextMidnight().toISOString()}`;
  const userIdOf = (client: ApiClient) =>
    (JSON.parse(Buffer.from(client.token!.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;
  const patchQuota = (client: ApiClient, quota: Record<string, number | null>) =>
    admin.request('PATCH', `/api/admin/users/${userIdOf(client)}`, { quota });

  /** Polls `GET /api/usage` (as the playground does) until `done` holds. */
  async function usageOf(client: ApiClient, done: (report: UsageReport) => boolean): Promise<UsageReport> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const reply = await client.request<ApiSuccess<UsageReport>>('GET', '/api/usage');
      if (reply.status !== 200) throw new Error(`usage: ${reply.status} ${JSON.stringify(reply.body)}`);
      if (done(reply.body.data)) return reply.body.data;
      if (Date.now() > deadline) throw new Error(`usage never got there: ${JSON.stringify(reply.body.data)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Every user this file signs up, with their email, for the totals of everyone. */
  const users = new Map<ApiClient, string>();
  async function signUp(label: string): Promise<ApiClient> {
    const client = system.client();
    const email = `${label}-${process.pid}@example.com`;
    await client.login(email);
    users.set(client, email);
    return client;
  }

  /** Every run of the user's generations (earlier ones from `history`), as the records tell them. */
  async function runsOf(client: ApiClient): Promise<Run[]> {
    const page = await client.list('?limit=100');
    const records = await Promise.all(
      page.items.map(async (item) => ((await client.get(item.id)).body as ApiSuccess<Generation>).data),
    );
    return records.flatMap((record) => [
      ...record.history.map((run) => ({ model: record.settings.model, status: run.status, images: 0, provider: null })),
      {
        model: record.settings.model,
        status: record.status,
        images: record.status === 'completed' ? record.settings.num_images : 0,
        provider: record.provider,
      },
    ]);
  }

  const totalsOf = (runs: Run[]) => ({
    images: runs.reduce((sum, run) => sum + run.images, 0),
    runs: {
      completed: runs.filter((run) => run.status === 'completed').length,
      failed: runs.filter((run) => run.status === 'failed').length,
      canceled: runs.filter((run) => run.status === 'canceled').length,
    },
  });
  const withoutTime = ({ images, runs }: UsageTotals) => ({ images, runs });

  test(
    'when creates race across both instances at the daily quota, then exactly the quota passes and the rest are 429s naming the daily quota, its limit, what is used and its reset',
    async () => {
      const alice = await signUp('quota-alice');
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => create(i % 2 ? onSecond(alice) : alice, { prompt: `race ${i}` })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([...Array(DAILY).fill(202), ...Array(10 - DAILY).fill(429)]);
      for (const refused of answers.filter((a) => a.status === 429)) {
        expect(messageOf(refused)).toBe(dailyRefusal(DAILY, DAILY, 1));
        const untilMidnight = (nextMidnight().getTime() - Date.now()) / 1000;
        expect(Math.abs(Number(refused.headers.get('retry-after')) - untilMidnight)).toBeLessThan(10);
      }
      const made = answers.filter((a) => a.status === 202).map(idOf);
      for (const id of made) expect((await alice.waitFor(id)).status).toBe('completed');

      // Completed images stay counted.
      expect(messageOf(await create(onSecond(alice), {}))).toBe(dailyRefusal(DAILY, DAILY, 1));
      const report = await usageOf(alice, (r) => r.totals.runs.completed === DAILY);
      expect(report.quota.day).toEqual({
        limit: DAILY,
        used: DAILY,
        remaining: 0,
        resets_at: nextMidnight().toISOString(),
      });
    },
    TIMEOUT_MS,
  );

  test(
    'when a generation fails at the provider, then its images are given back and a later create passes',
    async () => {
      const bob = await signUp('quota-bob');
      // The provider's refusals (one per image asked) wait until the second create was answered, so
      // the generation is surely in flight then, however fast the worker is.
      let answered!: () => void;
      const held = new Promise<void>((resolve) => (answered = resolve));
      system.emulator.script(FAILS, ...Array.from({ length: DAILY }, () => ({ ...hf.notFound(FAILS), until: held })));
      const failing = await create(bob, { model: FAILS, num_images: DAILY });
      expect(failing.status).toBe(202);
      expect(messageOf(await create(onSecond(bob), {}))).toBe(dailyRefusal(DAILY, DAILY, 1));
      answered();

      expect((await bob.waitFor(idOf(failing))).status).toBe('failed');
      // The worker gives them back just after writing the failure.
      await usageOf(bob, (r) => r.quota.day.used === 0);
      const after = await create(onSecond(bob), { num_images: 2 });
      expect(after.status).toBe(202);
      expect((await bob.waitFor(idOf(after))).status).toBe('completed');
      expect((await usageOf(bob, (r) => r.totals.runs.completed === 1)).quota.day).toMatchObject({
        used: 2,
        remaining: DAILY - 2,
      });
    },
    TIMEOUT_MS,
  );

  test(
    'when an admin overrides a user’s quotas (PATCH /api/admin/users/:id), then they apply at once on both instances; null puts the default back; past a monthly quota the 429 names it',
    async () => {
      const carol = await signUp('quota-carol');
      expect((await create(onSecond(carol), { num_images: DAILY })).status).toBe(202);
      expect((await create(carol, {})).status).toBe(429);

      const raised = await patchQuota(carol, { images_per_day: DAILY + 2 });
      expect(raised.status).toBe(200);
      expect((raised.body as ApiSuccess<{ quota: unknown }>).data.quota).toEqual({
        images_per_day: DAILY + 2,
        images_per_month: null,
      });
      expect((await create(onSecond(carol), { num_images: 2 })).status).toBe(202);
      expect(messageOf(await create(carol, {}))).toBe(dailyRefusal(DAILY + 2, DAILY + 2, 1));
      expect((await patchQuota(carol, { images_per_day: null })).status).toBe(200);
      expect(messageOf(await create(onSecond(carol), {}))).toBe(dailyRefusal(DAILY + 2, DAILY, 1));

      const dave = await signUp('quota-dave');
      expect((await patchQuota(dave, { images_per_month: 1 })).status).toBe(200);
      expect((await create(dave, {})).status).toBe(202);
      const refused = await create(onSecond(dave), {});
      expect(refused.status).toBe(429);
      const now = new Date();
      const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
      expect(messageOf(refused)).toBe(
        'Monthly image quota reached: 1 of 1 images used this month (UTC), and this asks for 1; ' +
          `the quota resets at ${nextMonth.toISOString()}`,
      );
    },
    TIMEOUT_MS,
  );

  test(
    'when the runs are over, then GET /api/usage gives each user the runs the worker made, by day, model, provider and outcome, and GET /api/admin/usage everyone’s, with the top users',
    async () => {
      const erin = await signUp('quota-erin');
      const made = [await create(erin, { num_images: 2 }), await create(onSecond(erin), { model: FAILS })];
      for (const answer of made) expect(answer.status).toBe(202);

      const reports = new Map<ApiClient, UsageReport>();
      for (const [client] of users) {
        // Every generation of every test ended, as the records say, and then the usage records.
        for (const item of (await client.list('?limit=100')).items) await client.waitFor(item.id);
        const runs = await runsOf(client);
        const expected = totalsOf(runs);
        const report = await usageOf(client, (r) => sumOf(r.totals.runs) === runs.length);
        expect(withoutTime(report.totals)).toEqual(expected);
        expect(report.by_day.map(({ day, ...totals }) => ({ day, ...withoutTime(totals) }))).toEqual([
          { day: today(), ...expected },
        ]);
        const models = [...new Set(runs.map((run) => run.model))].sort();
        expect(report.by_model.map(({ model, ...totals }) => ({ model, ...withoutTime(totals) }))).toEqual(
          models.map((model) => ({ model, ...totalsOf(runs.filter((run) => run.model === model)) })),
        );
        // Each completed image is the provider's its record names; the rows add up to the totals.
        for (const provider of new Set(runs.filter((run) => run.images > 0).map((run) => run.provider))) {
          const images = runs.filter((run) => run.provider === provider).reduce((sum, run) => sum + run.images, 0);
          expect(report.by_provider.find((row) => row.provider === provider)?.images).toBe(images);
        }
        for (const field of ['images', 'provider_ms'] as const) {
          expect(report.by_provider.reduce((sum, row) => sum + row[field], 0)).toBe(report.totals[field]);
        }
        expect(sumOf(report.totals.runs)).toBe(report.by_provider.reduce((sum, row) => sum + sumOf(row.runs), 0));
        reports.set(client, report);
      }
      expect(reports.get(erin)!.totals.provider_ms).toBeGreaterThan(0);

      const everyone = await admin.request<ApiSuccess<AdminUsageReport>>('GET', '/api/admin/usage');
      expect(everyone.status).toBe(200);
      const all = everyone.body.data;
      const reported = [...reports.values()];
      expect(all.totals).toEqual({
        images: reported.reduce((sum, r) => sum + r.totals.images, 0),
        runs: {
          completed: reported.reduce((sum, r) => sum + r.totals.runs.completed, 0),
          failed: reported.reduce((sum, r) => sum + r.totals.runs.failed, 0),
          canceled: reported.reduce((sum, r) => sum + r.totals.runs.canceled, 0),
        },
        provider_ms: reported.reduce((sum, r) => sum + r.totals.provider_ms, 0),
      });
      const top = [...users].map(([client, email]) => ({
        user_id: userIdOf(client),
        email,
        images: reports.get(client)!.totals.images,
      }));
      expect(all.top_users).toEqual(
        top.sort((a, b) => b.images - a.images || a.user_id.localeCompare(b.user_id)).slice(0, 10),
      );
    },
    TIMEOUT_MS,
  );
});

const sumOf = (runs: UsageTotals['runs']) => runs.completed + runs.failed + runs.canceled;

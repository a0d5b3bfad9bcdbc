import { ObjectId } from 'mongodb';
import {
  generationJobId,
  type ApiFailure,
  type ApiSuccess,
  type Generation,
  type GenerationPage,
  type PublicUser,
} from '@imagegen/shared';
import type { ApiClient } from '../../../test/support/api-client';
import { startHarness, type Harness } from './api-harness';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  ADMIN_ENV,
  QAPI,
  GEN_QAPI,
  send,
  Browser,
  signInToDashboard,
  signIn,
  usersOf,
  generationsOf,
  recordOf,
  JobFailer,
} from './admin-support';

interface QueuesView {
  queues: Array<{ name: string; counts: Record<string, number>; workers: number; paused: boolean }>;
}

describe('the admin JSON API', () => {
  let h: Harness;
  let admin: { client: ApiClient; id: string };
  let alice: { client: ApiClient; id: string };
  let bob: { client: ApiClient; id: string };
  /** Generation ids in creation order. */
  const created: Array<{ id: string; owner: string }> = [];

  async function get<T>(path: string, token = admin.client.token): Promise<{ status: number; body: T }> {
    const answer = await send(h.baseUrl, path, { token });
    return { status: answer.status, body: answer.json<T>() };
  }

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    admin = await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD);
    alice = await signIn(h, 'alice@example.com');
    bob = await signIn(h, 'bob@example.com');
    for (const [who, prompt] of [
      [alice, 'a1'],
      [bob, 'b1'],
      [alice, 'a2'],
      [alice, 'a3'],
      [bob, 'b2'],
    ] as const) {
      created.push({ id: (await who.client.create({ prompt })).id, owner: who.id });
    }
    // One failed, as the worker leaves it (the job is not needed for listing).
    await generationsOf(h).updateOne(
      { _id: new ObjectId(created[2]!.id) },
      { $set: { status: 'failed', error: 'x', completed_at: new Date() } },
    );
  });

  afterEach(async () => {
    await h.queue.resume();
  });

  afterAll(async () => {
    await h?.stop();
  });

  const newestFirst = (filter: (g: { id: string; owner: string }) => boolean = () => true) =>
    created
      .filter(filter)
      .map((g) => g.id)
      .reverse();

  test('when GET /api/admin/queues, then it lists generations and webhooks with numeric counts per state, workers and paused', async () => {
    const { status, body } = await get<ApiSuccess<QueuesView>>('/api/admin/queues');
    expect(status).toBe(200);
    const queues = body.data.queues;
    expect(queues.map((q) => q.name).sort()).toEqual(['generation-deadlines', 'generations', 'webhooks']);
    for (const queue of queues) {
      expect(Object.keys(queue.counts)).toEqual(
        expect.arrayContaining(['waiting', 'active', 'delayed', 'completed', 'failed']),
      );
      for (const n of Object.values(queue.counts)) expect(typeof n).toBe('number');
      expect(queue.workers).toBe(0);
      expect(queue.paused).toBe(false);
    }
    const generations = queues.find((q) => q.name === 'generations')!;
    expect(generations.counts.waiting).toBe(created.length);
    expect(generations.counts.failed).toBe(0);
  });

  test('when the dashboard paused the generations queue, then GET /api/admin/queues says it is paused', async () => {
    const paused = await send(h.baseUrl, `${GEN_QAPI}/pause`, { method: 'PUT', token: admin.client.token });
    expect(paused.status).toBe(200);
    const { body } = await get<ApiSuccess<QueuesView>>('/api/admin/queues');
    const byName = Object.fromEntries(body.data.queues.map((q) => [q.name, q.paused]));
    expect(byName).toEqual({ 'generation-deadlines': false, generations: true, webhooks: false });
  });

  test("when GET /api/admin/generations, then it lists every user's generations newest first", async () => {
    const { status, body } = await get<ApiSuccess<GenerationPage>>('/api/admin/generations');
    expect(status).toBe(200);
    expect(body.data.items.map((g) => g.id)).toEqual(newestFirst());
    expect(body.data.next_cursor).toBeNull();
    expect(new Set(body.data.items.map((g) => g.user_id))).toEqual(new Set([alice.id, bob.id]));
  });

  test('when filtered by status, then only generations of that status are listed', async () => {
    const failed = await get<ApiSuccess<GenerationPage>>('/api/admin/generations?status=failed');
    expect(failed.body.data.items.map((g) => [g.id, g.status])).toEqual([[created[2]!.id, 'failed']]);
    const pending = await get<ApiSuccess<GenerationPage>>('/api/admin/generations?status=pending');
    expect(pending.body.data.items.map((g) => g.id)).toEqual(newestFirst((g) => g.id !== created[2]!.id));
  });

  test('when filtered by user, by id or by email (any case), then only the generations of that user are listed', async () => {
    const bobs = newestFirst((g) => g.owner === bob.id);
    expect(bobs).toHaveLength(2);
    for (const user of [bob.id, 'bob@example.com', 'BOB@Example.com']) {
      const { status, body } = await get<ApiSuccess<GenerationPage>>(
        `/api/admin/generations?user=${encodeURIComponent(user)}`,
      );
      expect({ user, status, ids: body.data.items.map((g) => g.id) }).toEqual({ user, status: 200, ids: bobs });
    }
    const both = await get<ApiSuccess<GenerationPage>>(`/api/admin/generations?user=${alice.id}&status=failed`);
    expect(both.body.data.items.map((g) => g.id)).toEqual([created[2]!.id]);
  });

  test('when filtered by a user that does not exist, then the list is empty', async () => {
    for (const user of ['nobody@example.com', new ObjectId().toHexString()]) {
      const { status, body } = await get<ApiSuccess<GenerationPage>>(`/api/admin/generations?user=${user}`);
      expect({ status, body: body.data }).toEqual({ status: 200, body: { items: [], next_cursor: null } });
    }
  });

  test('when paginated with limit and cursor, then the pages follow each other newest first without gaps or repeats', async () => {
    const seen: string[] = [];
    const pages: number[] = [];
    let query = '?limit=2';
    for (;;) {
      const { status, body } = await get<ApiSuccess<GenerationPage>>(`/api/admin/generations${query}`);
      expect(status).toBe(200);
      seen.push(...body.data.items.map((g) => g.id));
      pages.push(body.data.items.length);
      if (!body.data.next_cursor) break;
      expect(body.data.next_cursor).toBe(body.data.items.at(-1)!.id);
      query = `?limit=2&cursor=${body.data.next_cursor}`;
      if (pages.length > created.length) throw new Error('pagination never ends');
    }
    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual(newestFirst());
  });

  test.each([
    ['status=done', 'query.status'],
    ['cursor=zzz', 'query.cursor'],
    ['limit=0', 'query.limit'],
  ])('when the query has %s, then it answers 400 naming %s', async (query, field) => {
    const { status, body } = await get<ApiFailure>(`/api/admin/generations?${query}`);
    expect(status).toBe(400);
    expect(body.errors?.map((e) => e.field)).toEqual([field]);
  });

  test('when an admin grants a user the admin role, then that user, signed in again, can use the admin routes; when revoked, no more', async () => {
    const patch = (role: unknown) =>
      send(h.baseUrl, `/api/admin/users/${alice.id}`, { method: 'PATCH', token: admin.client.token, body: { role } });
    expect((await get('/api/admin/queues', alice.client.token)).status).toBe(403);
    const tokenBefore = alice.client.token;

    const granted = await patch('admin');
    expect(granted.status).toBe(200);
    expect(granted.json<ApiSuccess<PublicUser>>().data).toMatchObject({
      id: alice.id,
      email: 'alice@example.com',
      role: 'admin',
    });
    expect(granted.text).not.toMatch(/password|webhook_secret/);
    expect((await usersOf(h).findOne({ _id: new ObjectId(alice.id) }))!.role).toBe('admin');
    // A change of role revokes the tokens issued before it (services/api/test/token-revocation.test.ts).
    expect((await get('/api/admin/queues', tokenBefore)).status).toBe(401);
    alice = await signIn(h, 'alice@example.com');
    expect((await get('/api/admin/queues', alice.client.token)).status).toBe(200);
    expect((await get('/api/admin/generations', alice.client.token)).status).toBe(200);

    const revoked = await patch('user');
    expect(revoked.status).toBe(200);
    expect(revoked.json<ApiSuccess<PublicUser>>().data.role).toBe('user');
    expect((await get('/api/admin/queues', alice.client.token)).status).toBe(401);
    alice = await signIn(h, 'alice@example.com');
    expect((await get('/api/admin/queues', alice.client.token)).status).toBe(403);
  });

  test('when an admin revokes their own role, then it answers 409 and they stay an admin', async () => {
    const answer = await send(h.baseUrl, `/api/admin/users/${admin.id}`, {
      method: 'PATCH',
      token: admin.client.token,
      body: { role: 'user' },
    });
    expect(answer.status).toBe(409);
    expect((await usersOf(h).findOne({ _id: new ObjectId(admin.id) }))!.role).toBe('admin');
    expect((await get('/api/admin/queues')).status).toBe(200);
  });

  test('when the user id is unknown, then PATCH answers 404 and creates nobody', async () => {
    const before = await usersOf(h).countDocuments();
    const answer = await send(h.baseUrl, `/api/admin/users/${new ObjectId().toHexString()}`, {
      method: 'PATCH',
      token: admin.client.token,
      body: { role: 'admin' },
    });
    expect(answer.status).toBe(404);
    expect(await usersOf(h).countDocuments()).toBe(before);
  });

  test.each([
    ['an unknown role', `alice`, { role: 'superuser' }, 'role'],
    ['no role', `alice`, {}, 'role'],
    ['an extra field', `alice`, { role: 'admin', email: 'x@example.com' }, ''],
    ['a malformed id', 'not-an-id', { role: 'admin' }, 'params.id'],
  ])(
    'when PATCH /api/admin/users/:id has %s, then it answers 400 naming the field',
    async (_case, who, body, field) => {
      const id = who === 'alice' ? alice.id : who;
      const answer = await send(h.baseUrl, `/api/admin/users/${id}`, {
        method: 'PATCH',
        token: admin.client.token,
        body,
      });
      expect(answer.status).toBe(400);
      const fields = answer.json().errors?.map((e) => e.field) ?? [];
      expect(fields).toHaveLength(1);
      if (field) expect(fields).toEqual([field]);
      expect((await usersOf(h).findOne({ _id: new ObjectId(alice.id) }))!).toMatchObject({
        role: 'user',
        email: 'alice@example.com',
      });
    },
  );
});

// ---------------------------------------------------------------------------------------------
// 7. Retries keep MongoDB and the queue in step
// ---------------------------------------------------------------------------------------------

describe('retrying failed generations, through the admin API and the dashboard', () => {
  let h: Harness;
  let failer: JobFailer;
  let user: ApiClient;
  let adminToken: string;
  let browser: Browser;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    failer = new JobFailer(h);
    user = await h.user('maker@example.com');
    adminToken = (await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD)).client.token!;
    browser = await signInToDashboard(h);
  });

  // Each test starts from an empty queue, so the job it fails is the next one waiting.
  afterEach(async () => {
    await h.queue.obliterate({ force: true });
  });

  afterAll(async () => {
    await failer?.close();
    await h?.stop();
  });

  const retryViaApi = (id: string) =>
    send(h.baseUrl, `/api/admin/generations/${id}/retry`, { method: 'POST', token: adminToken });

  async function expectReopened(id: string, run: { startedAt: Date; completedAt: Date }): Promise<void> {
    const record = await recordOf(h, id);
    expect(record).toMatchObject({ status: 'pending', error: null, started_at: null, completed_at: null });
    expect(record.history).toEqual([
      {
        status: 'failed',
        error: 'x',
        started_at: run.startedAt,
        ended_at: run.completedAt,
        retried_at: expect.any(Date),
      },
    ]);
    // The retry is the second run, with a job of its own; the failed run's job is dropped.
    expect(await h.queue.getJobState(generationJobId(id, 2))).toBe('waiting');
    expect(await h.queue.getJobState(id)).toBe('unknown');
  }

  test('when an admin retries a failed generation through the API, then it answers 202 and the record is pending again with the failed run in history, and the job waits', async () => {
    const { id } = await user.create({ prompt: 'a cat' });
    const run = await failer.fail(id);

    const answer = await retryViaApi(id);
    expect(answer.status).toBe(202);
    expect(answer.json<ApiSuccess<Generation>>().data).toMatchObject({
      id,
      status: 'pending',
      error: null,
      history: [{ status: 'failed', error: 'x' }],
    });
    await expectReopened(id, run);
    // The owner sees the same.
    expect((await user.get(id)).body).toMatchObject({ data: { status: 'pending', error: null } });
  });

  test('when an admin retries a generation that has not failed, then it answers 409 and nothing changes', async () => {
    const { id } = await user.create({ prompt: 'a dog' });
    const answer = await retryViaApi(id);
    expect(answer.status).toBe(409);
    const record = await recordOf(h, id);
    expect({ status: record.status, history: record.history }).toEqual({ status: 'pending', history: [] });
    expect(await h.queue.getJobState(id)).toBe('waiting');
  });

  test('when an admin retries a generation that does not exist, then it answers 404, or 400 for a malformed id', async () => {
    expect((await retryViaApi(new ObjectId().toHexString())).status).toBe(404);
    expect((await retryViaApi('nope')).status).toBe(400);
  });

  test('when the same failed generation is retried twice, then the second answers 409 and history holds one run', async () => {
    const { id } = await user.create({ prompt: 'twice' });
    await failer.fail(id);
    expect((await retryViaApi(id)).status).toBe(202);
    expect((await retryViaApi(id)).status).toBe(409);
    expect((await recordOf(h, id)).history).toHaveLength(1);
  });

  test('when the dashboard retries one failed generation job (session + CSRF), then it answers 204 and the record is pending again', async () => {
    const { id } = await user.create({ prompt: 'a bird' });
    const run = await failer.fail(id);

    const answer = await browser.act('PUT', `${GEN_QAPI}/${id}/retry`);
    expect(answer.status).toBe(204);
    await expectReopened(id, run);
  });

  test('when a retried generation fails again and the dashboard retries its second run’s job, then a third run is queued', async () => {
    const { id } = await user.create({ prompt: 'a stubborn bird' });
    await failer.fail(id);
    expect((await browser.act('PUT', `${GEN_QAPI}/${id}/retry`)).status).toBe(204);
    // The second run fails too: its job, then its record.
    await failer.failJob(generationJobId(id, 2));
    await generationsOf(h).updateOne({ _id: new ObjectId(id) }, { $set: { status: 'failed', error: 'y' } });

    const answer = await browser.act('PUT', `${GEN_QAPI}/${generationJobId(id, 2)}/retry`);
    expect(answer.status).toBe(204);
    const record = await recordOf(h, id);
    expect({ status: record.status, run: record.run, errors: record.history.map((r) => r.error) }).toEqual({
      status: 'pending',
      run: 3,
      errors: ['x', 'y'],
    });
    expect(await h.queue.getJobState(generationJobId(id, 3))).toBe('waiting');
    expect(await h.queue.getJobState(generationJobId(id, 2))).toBe('unknown');
  });

  test('when the dashboard retries a job whose generation has not failed, then it answers 409 and nothing changes', async () => {
    const { id } = await user.create({ prompt: 'pending one' });
    const answer = await browser.act('PUT', `${GEN_QAPI}/${id}/retry`);
    expect(answer.status).toBe(409);
    expect((await recordOf(h, id)).history).toEqual([]);
  });

  test('when the dashboard retries every failed job, then each failed generation is reopened and the one whose record moved on is skipped', async () => {
    const first = await user.create({ prompt: 'one' });
    const firstRun = await failer.fail(first.id);
    const second = await user.create({ prompt: 'two' });
    const secondRun = await failer.fail(second.id);
    // A failed job whose record did not follow (still pending): retrying it must not touch the record.
    const third = await user.create({ prompt: 'three' });
    await failer.failJob(third.id);

    const answer = await browser.act('PUT', `${GEN_QAPI}/retry/failed`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ retried: 2, skipped: 1 });
    await expectReopened(first.id, firstRun);
    await expectReopened(second.id, secondRun);
    const skipped = await recordOf(h, third.id);
    expect({ status: skipped.status, history: skipped.history }).toEqual({ status: 'pending', history: [] });
    expect(await h.queue.getJobState(third.id)).toBe('failed');
  });
});

describe('dashboard actions refused because they would strand generations in MongoDB', () => {
  let h: Harness;
  let browser: Browser;
  let id: string;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    browser = await signInToDashboard(h);
    const user = await h.user('maker@example.com');
    id = (await user.create({ prompt: 'keep me' })).id;
  });

  afterAll(async () => {
    await h?.stop();
  });

  test.each([
    ['PUT', 'empty', () => `${GEN_QAPI}/empty`, undefined],
    ['PUT', 'obliterate', () => `${GEN_QAPI}/obliterate`, undefined],
    ['PUT', 'clean/waiting', () => `${GEN_QAPI}/clean/waiting`, undefined],
    ['PUT', 'clean/delayed', () => `${GEN_QAPI}/clean/delayed`, undefined],
    ['PUT', ':jobId/clean of a waiting job', () => `${GEN_QAPI}/${id}/clean`, undefined],
    [
      'POST',
      'add',
      () => `${GEN_QAPI}/add`,
      () => ({ name: 'generation.create', data: { generationId: new ObjectId().toHexString() } }),
    ],
    [
      'PATCH',
      ':jobId/update-data',
      () => `${GEN_QAPI}/${id}/update-data`,
      () => ({ data: { generationId: new ObjectId().toHexString() } }),
    ],
  ])(
    'when the dashboard sends %s %s, then it answers 409 and the job is still there',
    async (method, _name, path, body) => {
      const answer = await browser.act(method, path(), body?.());
      expect(answer.status).toBe(409);
      expect(answer.json<{ message: string }>().message).toEqual(expect.any(String));
      const job = await h.queue.getJob(id);
      expect(job?.data).toEqual({ generationId: id, run: 1, rev: 0 });
      expect(await h.queue.getJobState(id)).toBe('waiting');
      expect(await h.jobCount()).toBe(1);
      expect((await recordOf(h, id)).status).toBe('pending');
    },
  );

  test('when the dashboard cleans finished jobs, then that is passed on to bull-board (200) and the waiting job stays', async () => {
    const answer = await browser.act('PUT', `${GEN_QAPI}/clean/completed`);
    expect(answer.status).toBe(200);
    expect(await h.queue.getJobState(id)).toBe('waiting');
  });
});

/**
 * The refusals above match the path literally (`/api/queues/generations/...`), but bull-board
 * matches `:queueName` after percent-decoding it, so `generation%73` reaches bull-board's own
 * handler for the generations queue and skips ours.
 */
describe('dashboard actions on the generations queue named percent-encoded', () => {
  let h: Harness;
  let failer: JobFailer;
  let user: ApiClient;
  let browser: Browser;
  const ENCODED = `${QAPI}/generation%73`;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    failer = new JobFailer(h);
    user = await h.user('maker@example.com');
    browser = await signInToDashboard(h);
  });

  afterEach(async () => {
    await h.queue.obliterate({ force: true });
  });

  afterAll(async () => {
    await failer?.close();
    await h?.stop();
  });

  test('when the encoded name is read, then bull-board does resolve it to the generations queue (so the cases below reach it)', async () => {
    const { id } = await user.create({ prompt: 'looked up' });
    const answer = await browser.send(`${ENCODED}/${id}`);
    expect(answer.status).toBe(200);
  });

  test.each([
    ['empty', () => 'empty'],
    [':jobId/clean of a waiting job', (id: string) => `${id}/clean`],
  ])('when the dashboard sends PUT %s on it, then it is refused with 409 and the job stays', async (_name, suffix) => {
    const { id } = await user.create({ prompt: 'keep me' });
    const answer = await browser.act('PUT', `${ENCODED}/${suffix(id)}`);
    expect({ status: answer.status, state: await h.queue.getJobState(id) }).toEqual({
      status: 409,
      state: 'waiting',
    });
  });

  test('when the dashboard retries a failed job through it, then the record is reopened in MongoDB as well', async () => {
    const { id } = await user.create({ prompt: 'retry me' });
    await failer.fail(id);
    const answer = await browser.act('PUT', `${ENCODED}/${id}/retry`);
    expect(answer.status).toBe(204);
    expect(await h.queue.getJobState(generationJobId(id, 2))).toBe('waiting');
    const record = await recordOf(h, id);
    expect({ status: record.status, history: record.history.length }).toEqual({ status: 'pending', history: 1 });
  });
});

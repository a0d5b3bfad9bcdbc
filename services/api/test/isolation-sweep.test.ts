import { Binary, ObjectId } from 'mongodb';
import type { ApiSuccess, Generation, GenerationPage, GenerationStatus, ImageMeta } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument, type ImageDocument } from '@imagegen/core';
import type { ApiClient } from '../../../test/support/api-client';
import { makeImage } from '../../../test/support/hf-emulator';
import { startHarness, type Harness } from './api-harness';
import { signIn } from './admin-support';
import {
  BEARER_ROUTES,
  WorldWatch,
  bearer,
  callRoute,
  routeKey,
  type RawAnswer,
  type RouteContext,
} from './route-sweep';

const STATUSES: GenerationStatus[] = ['pending', 'processing', 'completed', 'failed', 'canceled'];
/** Every route of a user's that names a generation in its path. */
const ID_ROUTES = BEARER_ROUTES.filter((route) => route.role === 'user' && route.path.includes(':'));

interface User {
  client: ApiClient;
  id: string;
  /** Their generations by the status each was brought to. */
  generations: Record<GenerationStatus, string>;
}

let h: Harness;
let watch: WorldWatch;
let a: User;
let b: User;

const generations = () => h.db.collection<GenerationDocument>(COLLECTIONS.generations);

/** Brings a pending generation to `status`: cancel through the owner's API, the others as the worker leaves them. */
async function bringTo(user: ApiClient, id: string, status: GenerationStatus): Promise<void> {
  const _id = new ObjectId(id);
  const now = new Date();
  switch (status) {
    case 'pending':
      return;
    case 'canceled': {
      const reply = await user.request('POST', `/api/generations/${id}/cancel`);
      if (reply.status !== 200) throw new Error(`cancel of ${id}: ${reply.status}`);
      return;
    }
    case 'processing':
      await generations().updateOne(
        { _id },
        { $set: { status, started_at: now, updated_at: now }, $inc: { attempts: 1 } },
      );
      return;
    case 'failed':
      await generations().updateOne(
        { _id },
        { $set: { status, error: 'the model refused', started_at: now, completed_at: now, updated_at: now } },
      );
      return;
    case 'completed': {
      const doc = (await generations().findOne({ _id }))!;
      const bytes = makeImage('png', 32, 24);
      const meta: ImageMeta = { mime_type: 'image/png', size_bytes: bytes.length, width: 32, height: 24 };
      await h.db
        .collection<ImageDocument>(COLLECTIONS.images)
        .insertOne({ _id, ...meta, user_id: doc.user_id, data: new Binary(bytes), created_at: now });
      await generations().updateOne(
        { _id },
        { $set: { status, image: meta, started_at: now, completed_at: now, updated_at: now } },
      );
    }
  }
}

async function create(user: ApiClient, prompt: string): Promise<string> {
  const reply = await user.request<ApiSuccess<Generation>>('POST', '/api/generations', {
    prompt,
    webhook_url: 'http://127.0.0.1:9/hook',
  });
  if (reply.status !== 202) throw new Error(`create: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.data.id;
}

const unknownId = () => new ObjectId().toHexString();
/** What an answer shows a client: status, content type and the exact bytes of the body. */
const shown = (answer: RawAnswer) => ({
  status: answer.status,
  type: answer.headers.get('content-type'),
  body: answer.text,
});

/** What A sees of A's own things: each generation through the API, and its delivery log. */
async function viewOf(user: User): Promise<unknown[]> {
  const views = [];
  for (const id of Object.values(user.generations)) {
    views.push((await user.client.get(id)).body, await user.client.deliveries(id));
  }
  return views;
}

beforeAll(async () => {
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: 'true' });
  watch = new WorldWatch(h);
  const [signedA, signedB] = [await signIn(h, 'alice@example.com'), await signIn(h, 'bob@example.com')];
  a = { ...signedA, generations: {} as Record<GenerationStatus, string> };
  b = { ...signedB, generations: {} as Record<GenerationStatus, string> };
  // Interleaved, so each user's pages have the other's records between theirs.
  for (const status of STATUSES) {
    for (const user of [a, b]) user.generations[status] = await create(user.client, `${status} of ${user.id}`);
  }
  for (const status of STATUSES) {
    for (const user of [a, b]) await bringTo(user.client, user.generations[status], status);
  }
});

afterAll(async () => {
  await watch?.close();
  await h?.stop();
});

describe('the fixture', () => {
  test("when A's generations were brought to each status, then A sees them so, and the canceled one has a recorded webhook message", async () => {
    for (const status of STATUSES) {
      const reply = await a.client.get(a.generations[status]);
      expect(reply.status).toBe(200);
      expect(reply.body.success && reply.body.data.status).toBe(status);
    }
    expect((await a.client.deliveries(a.generations.canceled)).messages).toHaveLength(1);
    expect((await a.client.image(a.generations.completed)).status).toBe(200);
  });

  test('when the id routes are listed, then they include every route with a generation id in its path', () => {
    expect(ID_ROUTES.map(routeKey)).toEqual(
      expect.arrayContaining([
        'GET /api/generations/:id',
        'POST /api/generations/:id/cancel',
        'POST /api/generations/:id/retry',
        'GET /api/generations/:id/webhook-deliveries',
        'POST /api/generations/:id/webhook-deliveries/redeliver',
      ]),
    );
    expect(ID_ROUTES.every((route) => route.idOf === 'generation')).toBe(true);
  });
});

describe("B on A's ids", () => {
  let aBefore: unknown[];

  beforeAll(async () => {
    aBefore = await viewOf(a);
  });

  describe.each(ID_ROUTES.map((route) => [routeKey(route), route] as const))('%s', (_key, route) => {
    test.each(STATUSES)(
      "when B names A's %s generation, then it answers 404, byte for byte what B gets for an unknown id, and nothing is written",
      async (status) => {
        const ctx = (generationId: string): RouteContext => ({ generationId, userId: b.id });
        const before = await watch.snapshot();
        const onA = await callRoute(h.baseUrl, route, ctx(a.generations[status]), bearer(b.client.token!));
        const onUnknown = await callRoute(h.baseUrl, route, ctx(unknownId()), bearer(b.client.token!));
        expect(shown(onA)).toEqual(shown(onUnknown));
        expect(onA.status).toBe(404);
        expect(JSON.parse(onA.text)).toEqual({ success: false, message: expect.any(String) });
        expect(await watch.snapshot()).toEqual(before);
      },
    );
  });

  test("when B opens A's event stream with B's own stream token, then it is refused exactly as on an unknown id", async () => {
    const reply = await b.client.request<ApiSuccess<{ token: string }>>(
      'POST',
      `/api/generations/${b.generations.pending}/events/token`,
    );
    expect(reply.status).toBe(200);
    const query = `?token=${encodeURIComponent(reply.body.data.token)}`;
    const events = BEARER_ROUTES.find((route) => route.stream)!;
    const onA = await callRoute(h.baseUrl, events, { generationId: a.generations.pending, userId: b.id }, {}, query);
    const onUnknown = await callRoute(h.baseUrl, events, { generationId: unknownId(), userId: b.id }, {}, query);
    expect(shown(onA)).toEqual(shown(onUnknown));
    expect(onA.status).not.toBe(403);
    expect([401, 404]).toContain(onA.status);
    // The token is good on its own generation (so the refusal is about the id).
    const own = await callRoute(h.baseUrl, events, { generationId: b.generations.pending, userId: b.id }, {}, query);
    expect(own.status).toBe(200);
  });

  test("when B has been at A's ids on every route, then A's generations and delivery logs are as they were", async () => {
    expect(await viewOf(a)).toEqual(aBefore);
    for (const status of STATUSES) {
      expect((await generations().findOne({ _id: new ObjectId(a.generations[status]) }))?.status).toBe(status);
    }
  });
});

describe('things of a user that no path names', () => {
  test("when B creates with the Idempotency-Key and body A used, then B gets a generation of B's own, and A's replay is still A's", async () => {
    const body = { prompt: 'The same request from two users' };
    const headers = { 'idempotency-key': 'shared-key-1' };
    const first = await a.client.request<ApiSuccess<Generation>>('POST', '/api/generations', body, headers);
    expect(first.status).toBe(202);
    const fromB = await b.client.request<ApiSuccess<Generation>>('POST', '/api/generations', body, headers);
    expect(fromB.status).toBe(202);
    expect(fromB.headers.get('idempotent-replayed')).toBeNull();
    expect(fromB.body.data).toMatchObject({ user_id: b.id });
    expect(fromB.body.data.id).not.toBe(first.body.data.id);
    const replay = await a.client.request<ApiSuccess<Generation>>('POST', '/api/generations', body, headers);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.data).toMatchObject({ id: first.body.data.id, user_id: a.id });
    // Out of the way of the list checks below.
    for (const [user, id] of [
      [a, first.body.data.id],
      [b, fromB.body.data.id],
    ] as const) {
      await generations().deleteOne({ _id: new ObjectId(id) });
      await h.queue.remove(id);
      expect(await user.client.get(id)).toMatchObject({ status: 404 });
    }
  });

  test("when B reads and rotates B's webhook signing secret, then A's is neither shown nor changed", async () => {
    const aSecret = await a.client.webhookSecret();
    const bSecret = await b.client.webhookSecret();
    expect(bSecret.secret).not.toBe(aSecret.secret);
    const rotated = await b.client.webhookSecret(true);
    expect(rotated.secret).not.toBe(bSecret.secret);
    expect(await a.client.webhookSecret()).toEqual(aSecret);
  });
});

describe('lists', () => {
  /** Every item of the user's list under `query`, page by page through the cursors. */
  async function everything(user: User, query: Record<string, string>, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const params = new URLSearchParams({ ...query, limit: String(limit), ...(cursor && { cursor }) });
      const page: GenerationPage = await user.client.list(`?${params}`);
      expect(page.items.every((item) => item.user_id === user.id)).toBe(true);
      ids.push(...page.items.map((item) => item.id));
      cursor = page.next_cursor;
      if (!cursor) return ids;
    }
    throw new Error('the cursors never ended');
  }

  const ownIds = (user: User, status?: GenerationStatus) =>
    STATUSES.filter((s) => !status || s === status).map((s) => user.generations[s]);

  test.each([undefined, ...STATUSES])(
    "when each user lists with status filter %s, at every page size, then each sees exactly their own items and never the other's",
    async (status) => {
      for (const [user, otherUser] of [
        [a, b],
        [b, a],
      ] as const) {
        for (const limit of [1, 2, 20]) {
          const ids = await everything(user, status ? { status } : {}, limit);
          expect([...ids].sort()).toEqual(ownIds(user, status).sort());
          expect(ids.filter((id) => ownIds(otherUser).includes(id))).toEqual([]);
        }
      }
    },
  );

  test("when B pages from a cursor that is one of A's ids, then B still sees only B's items", async () => {
    // The fixture interleaves A's and B's records, so most of A's ids have some of B's below them.
    expect(ownIds(a).filter((cursor) => ownIds(b).some((id) => id < cursor)).length).toBeGreaterThan(3);
    for (const cursor of ownIds(a)) {
      const page = await b.client.list(`?cursor=${cursor}&limit=100`);
      // Ids of one process grow with each one made, so B's older than the cursor are those below it.
      const older = ownIds(b).filter((id) => id < cursor);
      expect(page.items.map((item) => item.id).sort()).toEqual(older.sort());
      expect(page.items.every((item) => item.user_id === b.id)).toBe(true);
    }
  });
});

describe("A on A's own ids (control)", () => {
  test("when A calls every id route on each of A's generations, then no answer is the not-found B got", async () => {
    const notFound = shown(
      await callRoute(h.baseUrl, ID_ROUTES[0]!, { generationId: unknownId(), userId: a.id }, bearer(a.client.token!)),
    );
    for (const route of ID_ROUTES) {
      for (const status of STATUSES) {
        const ctx = { generationId: a.generations[status], userId: a.id };
        const answer = await callRoute(h.baseUrl, route, ctx, bearer(a.client.token!));
        expect({ route: routeKey(route), status, answer: shown(answer) }).not.toEqual({
          route: routeKey(route),
          status,
          answer: notFound,
        });
      }
    }
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ObjectId } from 'mongodb';
import type { ApiSuccess, Generation } from '@imagegen/shared';
import { COLLECTIONS } from '@imagegen/core';
import { JWT_SECRET, startHarness, type Harness } from './api-harness';
import { ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, signIn } from './admin-support';
import {
  BEARER_ROUTES,
  PUBLIC_API_ROUTES,
  WorldWatch,
  bearer,
  callRoute,
  rawRequest,
  routeKey,
  servedApiRoutes,
  type BearerRoute,
  type RawAnswer,
  type RouteContext,
} from './route-sweep';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);
const WEBHOOK_URL = 'http://127.0.0.1:9/hook';

/** Someone whose tokens the sweep forges or replays. */
interface Account {
  id: string;
  role: 'user' | 'admin';
  /** The token login issued. */
  token: string;
  /** A stream token (scoped to one generation's events) of theirs. */
  streamToken: string;
  /** A generation of theirs. */
  generationId: string;
}

/** Each way a bearer token can be bad; every one must get 401 on every bearer route. */
const BAD_TOKENS = [
  'unsigned (alg: none)',
  'HS512-signed with the right secret (the algorithm is pinned to HS256)',
  'RS256-signed with a key pair of its own',
  'HS256-signed with another secret',
  'expired (right secret, HS256)',
  'a valid token whose payload was changed to role admin (signature of the original payload)',
  "another user's valid token whose payload was changed to name this user (signature of the original payload)",
  'a stream token (scoped to one generation’s events)',
  'correctly signed and unexpired, of an account since deleted',
] as const;
type BadToken = (typeof BAD_TOKENS)[number];

/** How long the API takes an account it found to exist (AUTH_ACCOUNT_CACHE_MS). */
const ACCOUNT_CACHE_MS = 300;

let h: Harness;
let watch: WorldWatch;
/** A plain user, and the owner of the generations the user routes are aimed at. */
let owner: Account;
/** Another plain user, whose token is tampered to name the owner or the admin. */
let other: Account;
let admin: Account;
/** A user and an admin who each had a token, a stream token and a generation, then were deleted. */
let deletedUser: Account;
let deletedAdmin: Account;
/** The user `PATCH /api/admin/users/:id` is aimed at. */
let targetUserId: string;
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

const sign = (claims: object, secret: jwt.Secret, algorithm: jwt.Algorithm, expiresIn = 600) =>
  jwt.sign(claims, secret, { algorithm, expiresIn });

/** `token` with its payload replaced (and its header and signature kept). */
function tampered(token: string, change: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  const claims = jwt.decode(token) as Record<string, unknown>;
  return `${header}.${b64url({ ...claims, ...change })}.${signature}`;
}

/** The bad token of kind `kind` aimed at `victim`, and where the request aims. */
function badToken(kind: BadToken, victim: Account, deleted: Account): { token: string; generationId: string } {
  const claims = { sub: victim.id, role: victim.role };
  const aimed = (token: string) => ({ token, generationId: owner.generationId });
  switch (kind) {
    case 'unsigned (alg: none)':
      return aimed(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims, exp: nowSeconds() + 600 })}.`);
    case 'HS512-signed with the right secret (the algorithm is pinned to HS256)':
      return aimed(sign(claims, JWT_SECRET, 'HS512'));
    case 'RS256-signed with a key pair of its own':
      return aimed(sign(claims, rsaKey, 'RS256'));
    case 'HS256-signed with another secret':
      return aimed(sign(claims, 'y'.repeat(32), 'HS256'));
    case 'expired (right secret, HS256)':
      return aimed(
        jwt.sign({ ...claims, iat: nowSeconds() - 600, exp: nowSeconds() - 60 }, JWT_SECRET, { algorithm: 'HS256' }),
      );
    case 'a valid token whose payload was changed to role admin (signature of the original payload)':
      // The plain user's own token, promoted.
      return aimed(tampered(owner.token, { role: 'admin' }));
    case "another user's valid token whose payload was changed to name this user (signature of the original payload)":
      return aimed(tampered(other.token, { sub: victim.id, role: victim.role }));
    case 'a stream token (scoped to one generation’s events)':
      return { token: victim.streamToken, generationId: victim.generationId };
    case 'correctly signed and unexpired, of an account since deleted':
      // Aimed at the deleted account's own generation, which outlives it.
      return { token: deleted.token, generationId: deleted.generationId };
  }
}

async function account(email: string, role: 'user' | 'admin', password = 'password123'): Promise<Account> {
  let signed = await signIn(h, email, password);
  if (signed.user.role !== role) {
    await h.db.collection(COLLECTIONS.users).updateOne({ _id: new ObjectId(signed.id) }, { $set: { role } });
    signed = await signIn(h, email, password);
  }
  const reply = await signed.client.request<ApiSuccess<Generation>>('POST', '/api/generations', {
    prompt: `A generation of ${email}`,
    webhook_url: WEBHOOK_URL,
  });
  if (reply.status !== 202) throw new Error(`create of ${email}: ${reply.status} ${JSON.stringify(reply.body)}`);
  const generationId = reply.body.data.id;
  const stream = await signed.client.request<ApiSuccess<{ token: string }>>(
    'POST',
    `/api/generations/${generationId}/events/token`,
  );
  if (stream.status !== 200) throw new Error(`stream token of ${email}: ${stream.status}`);
  return { id: signed.id, role, token: signed.client.token!, streamToken: stream.body.data.token, generationId };
}

async function deleteAccount(who: Account): Promise<void> {
  const deleted = await h.db.collection(COLLECTIONS.users).deleteOne({ _id: new ObjectId(who.id) });
  expect(deleted.deletedCount).toBe(1);
}

beforeAll(async () => {
  h = await startHarness({
    ...ADMIN_ENV,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    AUTH_ACCOUNT_CACHE_MS: String(ACCOUNT_CACHE_MS),
  });
  watch = new WorldWatch(h);
  owner = await account('owner@example.com', 'user');
  other = await account('other@example.com', 'user');
  admin = await account(ADMIN_EMAIL, 'admin', ADMIN_PASSWORD);
  deletedUser = await account('gone@example.com', 'user');
  deletedAdmin = await account('gone-admin@example.com', 'admin');
  targetUserId = (await signIn(h, 'target@example.com')).id;
  await deleteAccount(deletedUser);
  await deleteAccount(deletedAdmin);
  // A deleted account's tokens stop working within AUTH_ACCOUNT_CACHE_MS (auth.test.ts shows both sides).
  await sleep(ACCOUNT_CACHE_MS + 100);
});

afterAll(async () => {
  await watch?.close();
  await h?.stop();
});

function expectUnauthorized(answer: RawAnswer, what: string): void {
  expect({ what, status: answer.status }).toEqual({ what, status: 401 });
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(JSON.parse(answer.text)).toEqual({ success: false, message: expect.any(String) });
}

describe('the write check', () => {
  test('when a valid request writes a record and a job, then the snapshot shows it (so an unchanged snapshot means nothing was written)', async () => {
    const before = await watch.snapshot();
    expect(Object.keys(before.collections)).toEqual(
      expect.arrayContaining([COLLECTIONS.users, COLLECTIONS.generations]),
    );
    const answer = await rawRequest(h.baseUrl, 'POST', '/api/generations', {
      headers: bearer(other.token),
      body: { prompt: 'A write the snapshot must see' },
    });
    expect(answer.status).toBe(202);
    const after = await watch.snapshot();
    expect(after.collections[COLLECTIONS.generations]).toHaveLength(
      before.collections[COLLECTIONS.generations]!.length + 1,
    );
    expect(after).not.toEqual(before);
  });
});

describe('the table of bearer routes', () => {
  test('when the app is assembled as startApi does, then every /api route it serves is in the table or on the public list, and the table names no route it does not serve', async () => {
    const served = await servedApiRoutes(h.iso);
    // The introspection works: it sees routes of every router, the public ones among them.
    expect(served).toEqual(expect.arrayContaining([...PUBLIC_API_ROUTES, 'GET /api/generations/:id']));
    const listed = [...BEARER_ROUTES.map(routeKey), ...PUBLIC_API_ROUTES].sort();
    expect(served).toEqual(listed);
  });

  test('when any served /api route off the public list is called without a token, then it answers 401', async () => {
    const served = await servedApiRoutes(h.iso);
    const ctx: RouteContext = { generationId: owner.generationId, userId: targetUserId };
    for (const key of served.filter((route) => !PUBLIC_API_ROUTES.includes(route))) {
      const [method, path] = key.split(' ') as [BearerRoute['method'], string];
      const route = BEARER_ROUTES.find((r) => routeKey(r) === key) ?? { method, path, role: 'user' as const };
      expectUnauthorized(await callRoute(h.baseUrl, route, ctx), key);
    }
  });
});

describe.each(BEARER_ROUTES.map((route) => [routeKey(route), route] as const))('%s', (_key, route) => {
  const victim = () => (route.role === 'admin' ? admin : owner);
  const deleted = () => (route.role === 'admin' ? deletedAdmin : deletedUser);

  test.each(BAD_TOKENS)(
    'when the bearer token is %s, then it answers 401 with the envelope and writes nothing',
    async (kind) => {
      const { token, generationId } = badToken(kind, victim(), deleted());
      const before = await watch.snapshot();
      const answer = await callRoute(h.baseUrl, route, { generationId, userId: targetUserId }, bearer(token));
      expectUnauthorized(answer, kind);
      expect(await watch.snapshot()).toEqual(before);
    },
  );

  test(`when the bearer token is the valid one of ${route.role === 'admin' ? 'an admin' : 'the owner'}, then it is not refused (so the 401s above are for their stated reason)`, async () => {
    const answer = await callRoute(
      h.baseUrl,
      route,
      { generationId: owner.generationId, userId: targetUserId },
      bearer(victim().token),
    );
    const refused = [401, 403].includes(answer.status) || answer.status >= 500;
    expect({ refused, status: answer.status, body: answer.text }).toMatchObject({ refused: false });
  });
});

describe('stream tokens in ?token=, and deleted accounts at the dashboard', () => {
  const streamClaims = (who: Account) => ({
    sub: who.id,
    role: who.role,
    scope: 'events',
    gen: who.generationId,
  });
  const eventsPath = (who: Account, token: string) =>
    `/api/generations/${who.generationId}/events?token=${encodeURIComponent(token)}`;

  test("when a live user's stream token opens its generation's events, then it answers 200 (positive control)", async () => {
    const answer = await rawRequest(h.baseUrl, 'GET', eventsPath(other, other.streamToken));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/event-stream/);
  });

  test("when a deleted user's stream token, correctly signed and unexpired, opens its generation's events, then it answers 401 with the envelope", async () => {
    expect(jwt.verify(deletedUser.streamToken, JWT_SECRET)).toMatchObject({ sub: deletedUser.id, scope: 'events' });
    expectUnauthorized(await rawRequest(h.baseUrl, 'GET', eventsPath(deletedUser, deletedUser.streamToken)), 'stream');
  });

  test.each([
    [
      'unsigned (alg: none)',
      () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...streamClaims(owner), exp: nowSeconds() + 300 })}.`,
    ],
    ['HS512-signed with the right secret', () => sign(streamClaims(owner), JWT_SECRET, 'HS512')],
    ['HS256-signed with another secret', () => sign(streamClaims(owner), 'y'.repeat(32), 'HS256')],
    [
      'expired',
      () =>
        jwt.sign({ ...streamClaims(owner), iat: nowSeconds() - 600, exp: nowSeconds() - 60 }, JWT_SECRET, {
          algorithm: 'HS256',
        }),
    ],
    [
      "another generation's stream token with its payload changed to this one",
      () => tampered(other.streamToken, { sub: owner.id, gen: owner.generationId }),
    ],
    ["another generation's valid stream token", () => other.streamToken],
    ['an ordinary bearer token', () => owner.token],
  ])("when ?token= is %s, then the owner's event stream answers 401 with the envelope", async (_kind, token) => {
    expectUnauthorized(await rawRequest(h.baseUrl, 'GET', eventsPath(owner, token())), 'stream');
  });

  test("when a deleted admin's stream token opens its generation's events, then it answers 401", async () => {
    expectUnauthorized(
      await rawRequest(h.baseUrl, 'GET', eventsPath(deletedAdmin, deletedAdmin.streamToken)),
      'admin stream',
    );
  });

  test("when a deleted admin's bearer token calls the dashboard's JSON API, then it answers 401 (and a live admin's does not)", async () => {
    const path = '/admin/queues/api/queues';
    expect((await rawRequest(h.baseUrl, 'GET', path, { headers: bearer(admin.token) })).status).toBe(200);
    expectUnauthorized(await rawRequest(h.baseUrl, 'GET', path, { headers: bearer(deletedAdmin.token) }), 'dashboard');
  });
});

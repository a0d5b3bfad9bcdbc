import jwt from 'jsonwebtoken';
import { Binary, ObjectId } from 'mongodb';
import { Redis } from 'ioredis';
import type {
  ApiFailure,
  ApiSuccess,
  AuthResult,
  Generation,
  ImageMeta,
  ModelList,
  StreamToken,
} from '@imagegen/shared';
import { COLLECTIONS, GenerationEvents, toSummary, type GenerationDocument, type ImageDocument } from '@imagegen/core';
import { jsonRequest } from '../../../test/support/api-client';
import { launchBrowser } from '../../../test/support/browser';
import { makeImage } from '../../../test/support/hf-emulator';
import { SseClients, type SseClient } from '../../../test/support/sse';
import { ADMIN_ENV, ADMIN_EMAIL, ADMIN_PASSWORD } from './admin-support';
import { JWT_SECRET, startHarness, subjectOf, type Harness } from './api-harness';
import { HTTP_METHODS, SpecChecker, expressPath, unresolvedRefs, type Answer, type Spec } from './openapi-check';
import { servedRoutes } from './route-sweep';

/**
 * The OpenAPI document the API serves, against the API itself (in process, real Redis and
 * MongoDB-wire server, no worker: the test completes generations as the worker would). Every answer
 * of a realistic flow is checked against what the document declares for its path, method and
 * status, twice: as declared (JSON Schema 2020-12, ajv), and closed (no field the document does
 * not name). At the end every documented operation must have been called.
 */

/** Served, but not part of the API the document describes. */
const UNDOCUMENTED: Array<[RegExp, string]> = [
  [/^\w+ \/admin(\/|$)/, 'the admin browser area: HTML pages, and bull-board’s own JSON API'],
  [/^GET \/openapi\.json$/, 'the document itself'],
  [/^GET \/metrics$/, 'Prometheus scrape, in its text format'],
  [/^GET \/(assets\/.*)?$/, 'the web playground: its page and assets'],
];

const PASSWORD = 'password123';
let h: Harness;
let spec: Spec;
let declared: SpecChecker;
let closed: SpecChecker;
let redis: Redis;
const streams = new SseClients();

beforeAll(async () => {
  h = await startHarness({
    ...ADMIN_ENV,
    BODY_LIMIT_BYTES: '4096',
    MAX_IN_FLIGHT_PER_USER: '5',
    LOGIN_FAILURES_PER_ACCOUNT: '3',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
  const served = await fetch(`${h.baseUrl}/openapi.json`);
  expect(served.status).toBe(200);
  spec = (await served.json()) as Spec;
  declared = new SpecChecker(spec);
  closed = new SpecChecker(spec, { closed: true });
});

afterAll(async () => {
  streams.closeAll();
  redis?.disconnect();
  await h?.stop();
});

interface SendOptions {
  token?: string | undefined;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is (with the content type of `headers`, else JSON). */
  body?: unknown;
}

/** One request, its answer checked against the document (as declared, and closed). */
async function send(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
  const { token, headers = {}, body } = options;
  const res = await fetch(h.baseUrl + path, jsonRequest(method, body, token, headers));
  const answer = { status: res.status, headers: res.headers, text: await res.text() };
  declared.check(method, path, answer);
  closed.check(method, path, answer);
  return answer;
}

const dataOf = <T>(answer: Answer) => (JSON.parse(answer.text) as ApiSuccess<T>).data;
const failureOf = (answer: Answer) => JSON.parse(answer.text) as ApiFailure;

async function expectStatus(status: number, pending: Promise<Answer>): Promise<Answer> {
  const answer = await pending;
  expect({ status: answer.status, body: answer.text.slice(0, 300) }).toEqual({ status, body: expect.any(String) });
  return answer;
}

async function signUp(email: string): Promise<string> {
  const answer = await expectStatus(
    201,
    send('POST', '/api/auth/register', { body: { email, password: PASSWORD, name: 'Spec' } }),
  );
  return dataOf<AuthResult>(answer).token;
}

/** Completes a pending generation as the worker does: image stored, record completed, status event sent. */
async function completeAsWorker(id: string): Promise<Buffer> {
  const _id = new ObjectId(id);
  const generations = h.db.collection<GenerationDocument>(COLLECTIONS.generations);
  const doc = await generations.findOne({ _id });
  if (!doc) throw new Error(`no generation ${id}`);
  const bytes = makeImage('png', 64, 48);
  const meta: ImageMeta = { mime_type: 'image/png', size_bytes: bytes.length, width: 64, height: 48 };
  const now = new Date();
  await h.db
    .collection<ImageDocument>(COLLECTIONS.images)
    .insertOne({ _id, ...meta, user_id: doc.user_id, data: new Binary(bytes), created_at: now });
  const completed = await generations.findOneAndUpdate(
    { _id, status: 'pending' },
    {
      $set: { status: 'completed', image: meta, started_at: now, completed_at: now, updated_at: now },
      $inc: { attempts: 1 },
    },
    { returnDocument: 'after' },
  );
  if (!completed) throw new Error(`generation ${id} was not pending`);
  await new GenerationEvents(redis, h.iso.queuePrefix).append(id, {
    type: 'status',
    status: 'completed',
    generation: toSummary(completed, h.baseUrl),
  });
  return bytes;
}

/** Waits until a generation with this prompt is written, and returns its id. */
async function idOfPrompt(prompt: string): Promise<string> {
  const generations = h.db.collection<GenerationDocument>(COLLECTIONS.generations);
  for (;;) {
    const doc = await generations.findOne({ prompt });
    if (doc) return doc._id.toHexString();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The events of an open stream until it ends, each checked against the GenerationEvent component. */
async function checkEvents(stream: SseClient): Promise<unknown[]> {
  await stream.ended();
  for (const event of stream.data) {
    declared.checkComponent('GenerationEvent', event);
    closed.checkComponent('GenerationEvent', event);
  }
  return stream.data;
}

describe('the document (d)', () => {
  test('when GET /openapi.json is read, then it is OpenAPI 3.1 with info, paths and components, every $ref resolves, and every schema compiles under JSON Schema 2020-12', () => {
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
    expect(spec.info).toEqual(expect.objectContaining({ title: expect.any(String), version: expect.any(String) }));
    expect(Object.keys(spec.paths).length).toBeGreaterThan(0);
    expect(unresolvedRefs(spec)).toEqual([]);
    // The check itself: a ref to nothing is found.
    expect(
      unresolvedRefs({ ...spec, paths: { '/x': { get: { $ref: '#/components/schemas/Nope' } } } } as never),
    ).toEqual(['#/components/schemas/Nope']);
    const schemes = Object.keys(spec.components.securitySchemes ?? {});
    for (const [template, item] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        expect({ template, method, known: HTTP_METHODS.includes(method) }).toEqual({ template, method, known: true });
        expect({ template, method, responses: Object.keys(operation.responses).length > 0 }).toMatchObject({
          responses: true,
        });
        const used = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
        expect(schemes).toEqual(expect.arrayContaining(used));
      }
    }
    // Each component compiles (where ajv, strict, would refuse unknown keywords and formats), and
    // refuses null: none of them is nullable.
    for (const name of Object.keys(spec.components.schemas)) {
      for (const checker of [declared, closed]) {
        expect(() => checker.checkComponent(name, null)).toThrow(new RegExp(`^not a valid ${name}: `));
      }
    }
  });

  test('when the router stack is listed, then every route it serves is in the document with its method, and every operation of the document is served', async () => {
    const served = await servedRoutes(h.iso, ADMIN_ENV);
    const documented = Object.entries(spec.paths).flatMap(([template, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${expressPath(template)}`),
    );
    const shown = served.filter((route) => !UNDOCUMENTED.some(([pattern]) => pattern.test(route)));
    // The listing works: it sees each router's routes, and the left-out ones.
    expect(served).toEqual(expect.arrayContaining(['GET /healthz', 'POST /api/auth/login', 'GET /openapi.json']));
    expect(served.some((route) => route.startsWith('GET /admin/'))).toBe(true);
    expect(shown.sort()).toEqual([...documented].sort());
  });
});

describe('real answers against the document (b)', () => {
  let token: string;
  let adminToken: string;
  let pendingId: string;
  let completedId: string;
  let lastCreate: Answer;

  test('auth: register 201, taken 409, invalid 400 with field errors, login 200, wrong password 401, throttled 429, malformed 400, 413, 415', async () => {
    token = await signUp('spec@example.com');
    await expectStatus(
      409,
      send('POST', '/api/auth/register', { body: { email: 'spec@example.com', password: PASSWORD, name: 'Again' } }),
    );
    const invalid = await expectStatus(
      400,
      send('POST', '/api/auth/register', { body: { email: 'nope', password: 'short' } }),
    );
    expect(
      failureOf(invalid)
        .errors?.map((e) => e.field)
        .sort(),
    ).toEqual(['email', 'name', 'password']);
    await expectStatus(
      200,
      send('POST', '/api/auth/login', { body: { email: 'spec@example.com', password: PASSWORD } }),
    );
    adminToken = dataOf<AuthResult>(
      await expectStatus(
        200,
        send('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } }),
      ),
    ).token;
    const wrong = { email: 'spec@example.com', password: 'not the password' };
    await expectStatus(401, send('POST', '/api/auth/login', { body: wrong }));
    let throttled: Answer | undefined;
    for (let i = 0; i < 5 && !throttled; i++) {
      const answer = await send('POST', '/api/auth/login', { body: wrong });
      if (answer.status === 429) throttled = answer;
    }
    expect(throttled?.headers.get('retry-after')).toMatch(/^\d+$/);
    const malformed = await expectStatus(400, send('POST', '/api/auth/login', { body: '{"email": ' }));
    expect(failureOf(malformed).errors).toBeUndefined();
    await expectStatus(
      413,
      send('POST', '/api/auth/register', {
        body: { email: 'big@example.com', password: PASSWORD, name: 'n'.repeat(5000) },
      }),
    );
    await expectStatus(
      415,
      send('POST', '/api/auth/login', { body: 'email=a', headers: { 'content-type': 'text/plain' } }),
    );
  });

  test('create: 401, 400 with field errors, 202 with Location, an Idempotency-Key replayed (202) and reused with another body (422), 400 on the header, 413', async () => {
    await expectStatus(401, send('POST', '/api/generations', { body: { prompt: 'no token' } }));
    const invalid = await expectStatus(400, send('POST', '/api/generations', { token, body: { width: 7 } }));
    expect(failureOf(invalid).errors?.map((e) => e.field)).toEqual(expect.arrayContaining(['prompt', 'width']));
    const keyed = { token, headers: { 'idempotency-key': 'spec-1' }, body: { prompt: 'A lighthouse in a storm' } };
    lastCreate = await expectStatus(202, send('POST', '/api/generations', keyed));
    pendingId = dataOf<Generation>(lastCreate).id;
    expect(lastCreate.headers.get('location')).toBe(`/api/generations/${pendingId}`);
    const replay = await expectStatus(202, send('POST', '/api/generations', keyed));
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    await expectStatus(422, send('POST', '/api/generations', { ...keyed, body: { prompt: 'Another' } }));
    const badKey = await expectStatus(
      400,
      send('POST', '/api/generations', { ...keyed, headers: { 'idempotency-key': 'é' } }),
    );
    expect(failureOf(badKey).errors?.[0]?.field).toBe('headers.idempotency-key');
    await expectStatus(413, send('POST', '/api/generations', { token, body: { prompt: 'p'.repeat(5000) } }));
  });

  test('read: get 200 (pending), 400 on a bad id, 404 on an unknown one; list 200, 400 on a bad query; image 404 while pending', async () => {
    const pending = dataOf<Generation>(
      await expectStatus(200, send('GET', `/api/generations/${pendingId}`, { token })),
    );
    expect(pending).toMatchObject({
      status: 'pending',
      image: null,
      image_url: null,
      queue_position: expect.any(Number),
    });
    await expectStatus(400, send('GET', '/api/generations/not-an-id', { token }));
    await expectStatus(404, send('GET', `/api/generations/${new ObjectId().toHexString()}`, { token }));
    await expectStatus(200, send('GET', '/api/generations?limit=1&status=pending', { token }));
    await expectStatus(400, send('GET', '/api/generations?limit=0&colour=red', { token }));
    await expectStatus(404, send('GET', `/api/generations/${pendingId}/image`, { token }));
  });

  test('events: a stream token 200, its stream 200 whose status and notice events match GenerationEvent, then 204 once ended; 401 and 400', async () => {
    const issued = dataOf<StreamToken>(
      await expectStatus(200, send('POST', `/api/generations/${pendingId}/events/token`, { token })),
    );
    const path = `/api/generations/${pendingId}/events?token=${encodeURIComponent(issued.token)}`;
    const stream = await streams.open(h.baseUrl + path);
    declared.check('GET', path, { status: stream.status, headers: stream.headers, text: '' });
    await stream.nextEvent();
    await new GenerationEvents(redis, h.iso.queuePrefix).append(pendingId, {
      type: 'notice',
      message: 'Model loading, retrying in 18 s',
      retry_in_seconds: 18,
    });
    await stream.nextEvent();
    await expectStatus(200, send('POST', `/api/generations/${pendingId}/cancel`, { token }));
    const events = await checkEvents(stream);
    expect(events.map((e) => (e as { type: string }).type)).toEqual(['status', 'notice', 'status']);
    const ended = await send('GET', `/api/generations/${pendingId}/events`, {
      token,
      headers: { 'last-event-id': stream.lastEventId! },
    });
    expect(ended.status).toBe(204);
    await expectStatus(401, send('GET', `/api/generations/${pendingId}/events`));
    await expectStatus(
      400,
      send('GET', `/api/generations/${pendingId}/events`, { token, headers: { 'last-event-id': 'x' } }),
    );
  });

  test('cancel and retry: cancel again 409, unknown 404; retry 202, retry while pending 409, cancel 200', async () => {
    await expectStatus(409, send('POST', `/api/generations/${pendingId}/cancel`, { token }));
    await expectStatus(404, send('POST', `/api/generations/${new ObjectId().toHexString()}/cancel`, { token }));
    await expectStatus(202, send('POST', `/api/generations/${pendingId}/retry`, { token }));
    await expectStatus(409, send('POST', `/api/generations/${pendingId}/retry`, { token }));
    await expectStatus(200, send('POST', `/api/generations/${pendingId}/cancel`, { token }));
  });

  test('Prefer: wait: a generation that completes within the wait answers 200 with Preference-Applied; then get shows image_url as a data URL, and the image answers 200 and 304', async () => {
    const prompt = 'A completed lighthouse';
    const waited = send('POST', '/api/generations', { token, headers: { prefer: 'wait=10' }, body: { prompt } });
    completedId = await idOfPrompt(prompt);
    const bytes = await completeAsWorker(completedId);
    const answer = await expectStatus(200, waited);
    expect(answer.headers.get('preference-applied')).toBe('wait=10');
    const generation = dataOf<Generation>(
      await expectStatus(200, send('GET', `/api/generations/${completedId}`, { token })),
    );
    expect(generation.image_url).toBe(`data:image/png;base64,${bytes.toString('base64')}`);
    const image = await expectStatus(200, send('GET', `/api/generations/${completedId}/image`, { token }));
    expect(image.headers.get('content-type')).toBe('image/png');
    // With `Cache-Control: max-age=0`, as a browser revalidates: fetch would add `no-cache`, which forbids a 304.
    const revalidate = { 'if-none-match': image.headers.get('etag')!, 'cache-control': 'max-age=0' };
    await expectStatus(304, send('GET', `/api/generations/${completedId}/image`, { token, headers: revalidate }));
    await expectStatus(409, send('POST', `/api/generations/${completedId}/retry`, { token }));
  });

  test('images: /images/0 200, a thumbnail and a conversion 200 in their formats; 404 past the images, 400 on a bad index or query', async () => {
    const image = (query: string) => send('GET', `/api/generations/${completedId}${query}`, { token });
    expect((await expectStatus(200, image('/images/0'))).headers.get('content-type')).toBe('image/png');
    const thumbnail = await expectStatus(200, image('/images/0?width=128'));
    expect(thumbnail.headers.get('content-type')).toBe('image/webp');
    expect(thumbnail.headers.get('accept-ranges')).toBe('none');
    expect((await expectStatus(200, image('/image?format=jpeg'))).headers.get('content-type')).toBe('image/jpeg');
    await expectStatus(404, image('/images/1'));
    expect(failureOf(await expectStatus(400, image('/images/first'))).errors?.[0]?.field).toBe('params.index');
    expect(failureOf(await expectStatus(400, image('/image?width=300'))).errors?.[0]?.field).toBe('query.width');
  });

  test('too many in flight: the create past the cap answers 429 with Retry-After', async () => {
    const busy = await signUp('busy@example.com');
    let refused: Answer | undefined;
    for (let i = 0; i < 7 && !refused; i++) {
      const answer = await send('POST', '/api/generations', { token: busy, body: { prompt: `Busy ${i}` } });
      if (answer.status === 429) refused = answer;
    }
    expect(refused?.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  test('webhooks: secret 200 and rotated 200; deliveries 200 with the message of a canceled generation, redelivered 202; none yet 409; unknown 404', async () => {
    await expectStatus(200, send('GET', '/api/webhooks/secret', { token }));
    await expectStatus(200, send('POST', '/api/webhooks/secret/rotate', { token }));
    const hooked = dataOf<Generation>(
      await expectStatus(
        202,
        send('POST', '/api/generations', { token, body: { prompt: 'Hooked', webhook_url: 'http://127.0.0.1:9/hook' } }),
      ),
    );
    await expectStatus(409, send('POST', `/api/generations/${hooked.id}/webhook-deliveries/redeliver`, { token }));
    await expectStatus(200, send('POST', `/api/generations/${hooked.id}/cancel`, { token }));
    const log = dataOf<{ messages: unknown[] }>(
      await expectStatus(200, send('GET', `/api/generations/${hooked.id}/webhook-deliveries`, { token })),
    );
    expect(log.messages).toHaveLength(1);
    await expectStatus(202, send('POST', `/api/generations/${hooked.id}/webhook-deliveries/redeliver`, { token }));
    await expectStatus(
      404,
      send('GET', `/api/generations/${new ObjectId().toHexString()}/webhook-deliveries`, { token }),
    );
  });

  test('admin: queues 200, 401 without a token, 403 for a user; generations 200 and 400; retry 202, 404, 409; a role 200, 400, 404, and 409 for their own', async () => {
    await expectStatus(200, send('GET', '/api/admin/queues', { token: adminToken }));
    await expectStatus(401, send('GET', '/api/admin/queues'));
    await expectStatus(403, send('GET', '/api/admin/queues', { token }));
    await expectStatus(200, send('GET', '/api/admin/generations?user=spec@example.com', { token: adminToken }));
    await expectStatus(400, send('GET', '/api/admin/generations?limit=many', { token: adminToken }));
    await expectStatus(202, send('POST', `/api/admin/generations/${pendingId}/retry`, { token: adminToken }));
    await expectStatus(409, send('POST', `/api/admin/generations/${completedId}/retry`, { token: adminToken }));
    await expectStatus(
      404,
      send('POST', `/api/admin/generations/${new ObjectId().toHexString()}/retry`, { token: adminToken }),
    );
    const userId = dataOf<Generation>(await send('GET', `/api/generations/${pendingId}`, { token })).user_id;
    await expectStatus(200, send('PATCH', `/api/admin/users/${userId}`, { token: adminToken, body: { role: 'user' } }));
    await expectStatus(400, send('PATCH', `/api/admin/users/${userId}`, { token: adminToken, body: { role: 'root' } }));
    await expectStatus(
      404,
      send('PATCH', `/api/admin/users/${new ObjectId().toHexString()}`, { token: adminToken, body: { role: 'user' } }),
    );
    const adminId = (JSON.parse(Buffer.from(adminToken.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;
    await expectStatus(
      409,
      send('PATCH', `/api/admin/users/${adminId}`, { token: adminToken, body: { role: 'user' } }),
    );
  });

  test('models: the list 200 (the default model first), 401 without a token; a create naming a provider not configured here 422 naming provider', async () => {
    const list = dataOf<ModelList>(await expectStatus(200, send('GET', '/api/models', { token })));
    expect(list.items[0]).toMatchObject({ default: true, providers: [{ provider: 'local', status: 'live' }] });
    await expectStatus(401, send('GET', '/api/models'));
    const refused = await expectStatus(
      422,
      send('POST', '/api/generations', { token, body: { prompt: 'Through OpenAI', provider: 'openai' } }),
    );
    expect(failureOf(refused).errors?.map((e) => e.field)).toEqual(['provider']);
  });

  test('usage: 200 with the quotas, 400 on a reversed range; everyone’s 200 for an admin, 403 for a user', async () => {
    await expectStatus(200, send('GET', '/api/usage', { token }));
    await expectStatus(400, send('GET', '/api/usage?from=2025-02-01&to=2025-01-01', { token }));
    await expectStatus(200, send('GET', '/api/admin/usage?from=2025-01-01&to=2025-01-31', { token: adminToken }));
    await expectStatus(403, send('GET', '/api/admin/usage', { token }));
  });

  test('health: /healthz 200, /readyz 200', async () => {
    await expectStatus(200, send('GET', '/healthz'));
    await expectStatus(200, send('GET', '/readyz'));
  });

  test('deletion: a generation 204, again 404, a bad id 400; an account: a wrong password 401 naming it, a stale token without one 403, an unknown field 400, the password 204; an admin deletes a user 204, then 404', async () => {
    await expectStatus(204, send('DELETE', `/api/generations/${completedId}`, { token }));
    await expectStatus(404, send('DELETE', `/api/generations/${completedId}`, { token }));
    await expectStatus(400, send('DELETE', '/api/generations/not-an-id', { token }));

    const doomed = await signUp('doomed@example.com');
    const wrong = await expectStatus(
      401,
      send('DELETE', '/api/users/me', { token: doomed, body: { password: 'not the password' } }),
    );
    expect(failureOf(wrong).errors?.map((e) => e.field)).toEqual(['password']);
    const doomedId = subjectOf(doomed);
    const stale = jwt.sign({ role: 'user', iat_ms: Date.now() - 10 * 60_000 }, JWT_SECRET, {
      algorithm: 'HS256',
      subject: doomedId,
      expiresIn: 3600,
    });
    await expectStatus(403, send('DELETE', '/api/users/me', { token: stale }));
    await expectStatus(
      400,
      send('DELETE', '/api/users/me', { token: doomed, body: { password: PASSWORD, also: 'this' } }),
    );
    await expectStatus(204, send('DELETE', '/api/users/me', { token: doomed, body: { password: PASSWORD } }));

    const victimId = subjectOf(await signUp('victim@example.com'));
    await expectStatus(204, send('DELETE', `/api/admin/users/${victimId}`, { token: adminToken }));
    await expectStatus(404, send('DELETE', `/api/admin/users/${victimId}`, { token: adminToken }));
  });

  test('when the flow is done, then every operation of the document has had an answer checked', () => {
    const operations = Object.entries(spec.paths).flatMap(([template, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${template}`),
    );
    const answered = new Set([...declared.seen].map((key) => key.replace(/ \d+$/, '')));
    expect(operations.filter((operation) => !answered.has(operation))).toEqual([]);
    console.log(
      `openapi: ${operations.length} operations, ${declared.seen.size} distinct (operation, status) answers checked:\n  ${[...declared.seen].sort().join('\n  ')}`,
    );
  });

  describe('the check can fail', () => {
    const withData = (change: (data: Record<string, unknown>) => void): Answer => {
      const body = JSON.parse(lastCreate.text) as { data: Record<string, unknown> };
      change(body.data);
      return { ...lastCreate, text: JSON.stringify(body) };
    };

    test.each<[string, () => Answer, RegExp]>([
      [
        'a generation without its status',
        () => withData((data) => delete data.status),
        /must have required property 'status'/,
      ],
      [
        'a status the document does not list',
        () => withData((data) => (data.status = 'done')),
        /must be equal to one of the allowed values/,
      ],
      [
        'an image_url that is not a data URL',
        () => withData((data) => (data.image_url = 'https://example.com/a.png')),
        /must match pattern/,
      ],
      [
        'a created_at that is not a date-time',
        () => withData((data) => (data.created_at = 'yesterday')),
        /must match format "date-time"/,
      ],
      ['a status code the route does not declare', () => ({ ...lastCreate, status: 418 }), /status not declared/],
      [
        'a 202 without its Location header',
        () => ({ ...lastCreate, headers: new Headers({ 'content-type': 'application/json' }) }),
        /no Location header/,
      ],
      [
        'HTML where JSON is declared',
        () => ({
          ...lastCreate,
          headers: new Headers({ location: '/x', vary: 'Prefer', 'content-type': 'text/html' }),
        }),
        /content type text\/html not declared/,
      ],
    ])('when the answer to the create has %s, then the check refuses it', (_what, answer, reason) => {
      expect(() => declared.check('POST', '/api/generations', answer())).toThrow(reason);
    });

    test('when the data carries a field the document does not name, then the closed check refuses it (and the check as declared lets it pass)', () => {
      const extra = withData((data) => (data.secret_field = 1));
      expect(() => declared.check('POST', '/api/generations', extra)).not.toThrow();
      expect(() => closed.check('POST', '/api/generations', extra)).toThrow(/must NOT have additional properties/);
    });

    test('when an event is not a GenerationEvent, then the check refuses it', () => {
      expect(() => declared.checkComponent('GenerationEvent', { type: 'status', status: 'done' })).toThrow(
        /not a valid/,
      );
      expect(() =>
        declared.checkComponent('GenerationEvent', { type: 'notice', message: 'm', retry_in_seconds: 1 }),
      ).not.toThrow();
    });
  });
});

describe('the interactive reference (c)', () => {
  test('when /docs is opened, then it answers HTML whose scripts and stylesheets all answer 200 from this server', async () => {
    const page = await fetch(`${h.baseUrl}/docs`);
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${h.baseUrl}/docs/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const assets = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']/g)].map((m) => m[1]!);
    expect(assets).toEqual(
      expect.arrayContaining(['./swagger-ui.css', './swagger-ui-bundle.js', './swagger-ui-init.js']),
    );
    for (const asset of assets) {
      const url = new URL(asset, page.url);
      expect(url.origin).toBe(h.baseUrl);
      const res = await fetch(url);
      expect({ asset, status: res.status }).toEqual({ asset, status: 200 });
      await res.arrayBuffer();
    }
    const init = await (await fetch(`${h.baseUrl}/docs/swagger-ui-init.js`)).text();
    expect(init).toContain('"swaggerUrl": "/openapi.json"');
  });

  test('when a browser opens /docs, then Swagger UI renders every operation under the Content-Security-Policy, with no violation and no request elsewhere', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('request', (request) => {
        if (!request.url().startsWith(h.baseUrl) && !request.url().startsWith('data:'))
          problems.push(`request to ${request.url()}`);
      });
      await page.goto(`${h.baseUrl}/docs`);
      // The operations of the paths, and the webhook deliveries, which Swagger UI lists too.
      const operations = [...Object.values(spec.paths), ...Object.values(spec.webhooks ?? {})].flatMap((item) =>
        Object.keys(item),
      ).length;
      // Each operation is one `.opblock` once Swagger UI has fetched the document and rendered it.
      await page
        .locator('.opblock')
        .nth(operations - 1)
        .waitFor();
      expect(await page.locator('.opblock').count()).toBe(operations);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

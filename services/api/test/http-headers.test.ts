import { Writable } from 'node:stream';
import pino from 'pino';
import type { ApiSuccess, AuthResult, Generation } from '@imagegen/shared';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { loadApiConfig } from '../src/config';
import { startApi, type RunningApi } from '../src/server';
import { apiEnv, startHarness, type Harness } from './api-harness';
import { configErrorOf } from './config-error';
import { WorldWatch, bearer, rawRequest, type RawAnswer } from './route-sweep';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BODY_LIMIT = 2048;

/** helmet's defaults, as every answer must carry them. */
const HELMET_HEADERS: Record<string, string | RegExp> = {
  'content-security-policy': /default-src 'self'/,
  'x-content-type-options': 'nosniff',
  'strict-transport-security': /^max-age=\d+/,
  'x-frame-options': 'SAMEORIGIN',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'x-dns-prefetch-control': 'off',
};

function expectHelmet(answer: RawAnswer, what: string): void {
  for (const [name, value] of Object.entries(HELMET_HEADERS)) {
    const got = answer.headers.get(name);
    expect({ what, name, got }).toEqual({
      what,
      name,
      got: typeof value === 'string' ? value : expect.stringMatching(value),
    });
  }
  expect({ what, poweredBy: answer.headers.get('x-powered-by') }).toEqual({ what, poweredBy: null });
}

const envelope = (answer: RawAnswer) => JSON.parse(answer.text) as unknown;

describe('security headers and CORS off (the default)', () => {
  let h: Harness;
  let token: string;

  beforeAll(async () => {
    h = await startHarness({ BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    token = (await h.user('headers@example.com')).token!;
  });

  afterAll(async () => {
    await h?.stop();
  });

  test("when the API answers 200, 202, 400, 401 and 404, then each answer carries helmet's headers and no x-powered-by", async () => {
    const answers: Array<[string, number, Promise<RawAnswer>]> = [
      ['list', 200, rawRequest(h.baseUrl, 'GET', '/api/generations', { headers: bearer(token) })],
      ['healthz', 200, rawRequest(h.baseUrl, 'GET', '/healthz')],
      [
        'create',
        202,
        rawRequest(h.baseUrl, 'POST', '/api/generations', { headers: bearer(token), body: { prompt: 'A headline' } }),
      ],
      ['bad id', 400, rawRequest(h.baseUrl, 'GET', '/api/generations/not-an-id', { headers: bearer(token) })],
      ['bad body', 400, rawRequest(h.baseUrl, 'POST', '/api/generations', { headers: bearer(token), body: {} })],
      ['no token', 401, rawRequest(h.baseUrl, 'GET', '/api/generations')],
      ['no route', 404, rawRequest(h.baseUrl, 'GET', '/api/no-such-route', { headers: bearer(token) })],
      ['no route outside /api', 404, rawRequest(h.baseUrl, 'GET', '/no-such-page')],
    ];
    for (const [what, status, pending] of answers) {
      const answer = await pending;
      expect({ what, status: answer.status }).toEqual({ what, status });
      expectHelmet(answer, what);
    }
  });

  test('when a malformed JSON body is posted, then the 400 envelope carries the headers too', async () => {
    const res = await fetch(`${h.baseUrl}/api/generations`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: '{"prompt": ',
    });
    const answer = { status: res.status, headers: res.headers, text: await res.text() };
    expect(answer.status).toBe(400);
    expect(envelope(answer)).toEqual({ success: false, message: expect.any(String) });
    expectHelmet(answer, 'malformed');
  });

  test('when a page of another origin sends a preflight for POST /api/generations, then no access-control-allow-origin comes back', async () => {
    const answer = await rawRequest(h.baseUrl, 'OPTIONS', '/api/generations', {
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.headers.get('access-control-allow-methods')).toBeNull();
    expect(answer.headers.get('access-control-allow-headers')).toBeNull();
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
  });

  test('when a simple GET carries an Origin, then the answer has no access-control-allow-origin', async () => {
    const answer = await rawRequest(h.baseUrl, 'GET', '/api/generations', {
      headers: { ...bearer(token), origin: 'https://evil.example' },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.headers.get('access-control-expose-headers')).toBeNull();
  });

  describe(`request bodies over BODY_LIMIT_BYTES (${BODY_LIMIT})`, () => {
    let watch: WorldWatch;

    beforeAll(() => {
      watch = new WorldWatch(h);
    });

    afterAll(async () => {
      await watch?.close();
    });

    test('when a create body is just under the limit, then it is taken (so the 413s below are about size)', async () => {
      const body = { prompt: 'p'.repeat(1800) };
      expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThan(BODY_LIMIT);
      const answer = await rawRequest(h.baseUrl, 'POST', '/api/generations', { headers: bearer(token), body });
      expect(answer.status).toBe(202);
    });

    test('when an otherwise valid create body is over the limit, then it answers 413 with the envelope and writes nothing', async () => {
      const body = { prompt: 'p'.repeat(1900), negative_prompt: 'n'.repeat(1000) };
      expect(Buffer.byteLength(JSON.stringify(body))).toBeGreaterThan(BODY_LIMIT);
      const before = await watch.snapshot();
      const answer = await rawRequest(h.baseUrl, 'POST', '/api/generations', { headers: bearer(token), body });
      expect(answer.status).toBe(413);
      expect(envelope(answer)).toEqual({ success: false, message: expect.any(String) });
      expectHelmet(answer, '413');
      expect(await watch.snapshot()).toEqual(before);
    });

    test('when the oversized body comes chunked, with no Content-Length, then it answers 413 too and writes nothing', async () => {
      const json = JSON.stringify({ prompt: 'p'.repeat(1900), negative_prompt: 'n'.repeat(1000) });
      const before = await watch.snapshot();
      const res = await fetch(`${h.baseUrl}/api/generations`, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < json.length; i += 500)
              controller.enqueue(new TextEncoder().encode(json.slice(i, i + 500)));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ success: false, message: expect.any(String) });
      expect(await watch.snapshot()).toEqual(before);
    });

    test('when a login body is over the limit, then it answers 413 and no account is made', async () => {
      const before = await watch.snapshot();
      const answer = await rawRequest(h.baseUrl, 'POST', '/api/auth/login', {
        body: { email: 'big@example.com', password: 'password123', name: 'n'.repeat(3000) },
      });
      expect(answer.status).toBe(413);
      expect(envelope(answer)).toEqual({ success: false, message: expect.any(String) });
      expect(await watch.snapshot()).toEqual(before);
    });
  });
});

describe('CORS with CORS_ORIGINS=https://app.example.com', () => {
  const APP = 'https://app.example.com';
  let h: Harness;
  let token: string;

  beforeAll(async () => {
    h = await startHarness({ CORS_ORIGINS: APP });
    token = (await h.user('cors@example.com')).token!;
  });

  afterAll(async () => {
    await h?.stop();
  });

  const preflight = (origin: string) =>
    rawRequest(h.baseUrl, 'OPTIONS', '/api/generations', {
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });

  test("when that origin's page sends a preflight for POST with Authorization and Content-Type, then it is allowed for that origin only", async () => {
    const answer = await preflight(APP);
    expect(answer.status).toBeLessThan(300);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    const methods = answer.headers.get('access-control-allow-methods')?.split(/\s*,\s*/) ?? [];
    expect(methods).toContain('POST');
    const allowed =
      answer.headers
        .get('access-control-allow-headers')
        ?.toLowerCase()
        .split(/\s*,\s*/) ?? [];
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    expect(answer.headers.get('vary')?.toLowerCase()).toContain('origin');
  });

  test("when that origin's page makes a real request, then the answer allows it and exposes x-request-id", async () => {
    const answer = await rawRequest(h.baseUrl, 'GET', '/api/generations', {
      headers: { ...bearer(token), origin: APP },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    const exposed =
      answer.headers
        .get('access-control-expose-headers')
        ?.toLowerCase()
        .split(/\s*,\s*/) ?? [];
    expect(exposed).toContain('x-request-id');
    expect(answer.headers.get('x-request-id')).toMatch(UUID);
  });

  test('when another origin sends the same preflight or request, then no access-control-allow-origin comes back', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'http://app.example.com']) {
      const answer = await preflight(origin);
      expect({ origin, allowed: answer.headers.get('access-control-allow-origin') }).toEqual({ origin, allowed: null });
      const real = await rawRequest(h.baseUrl, 'GET', '/api/generations', { headers: { ...bearer(token), origin } });
      expect({ origin, allowed: real.headers.get('access-control-allow-origin') }).toEqual({ origin, allowed: null });
    }
  });
});

describe('CORS_ORIGINS in the config', () => {
  test('when CORS_ORIGINS is not a URL, then loadApiConfig refuses it with a message naming CORS_ORIGINS', () => {
    const error = configErrorOf({ CORS_ORIGINS: 'not a url' });
    expect(error.problems).toEqual([expect.stringMatching(/^CORS_ORIGINS/)]);
    expect(error.message).toContain('CORS_ORIGINS');
  });

  test('when one origin of a list is not an http(s) URL, then the list is refused naming CORS_ORIGINS', () => {
    expect(configErrorOf({ CORS_ORIGINS: 'https://ok.example,ftp://files.example' }).problems).toEqual([
      expect.stringMatching(/^CORS_ORIGINS/),
    ]);
  });

  test('when CORS_ORIGINS lists URLs with paths, then each becomes its origin; unset, the list is empty', () => {
    expect(loadApiConfig({ CORS_ORIGINS: 'https://a.example/app/, http://b.example:8080' }).CORS_ORIGINS).toEqual([
      'https://a.example',
      'http://b.example:8080',
    ]);
    expect(loadApiConfig({}).CORS_ORIGINS).toEqual([]);
  });
});

describe('request ids and the request log', () => {
  const PASSWORD = 'a very distinctive password 4711';
  const WRONG_PASSWORD = 'another distinctive wrong password 0815';
  let iso: Isolation;
  let api: RunningApi | undefined;
  let baseUrl: string;
  const lines: string[] = [];

  beforeAll(async () => {
    iso = isolation();
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    api = await startApi(loadApiConfig(apiEnv(iso)), pino({ level: 'info' }, stream));
    baseUrl = `http://127.0.0.1:${api.port}`;
  });

  afterAll(async () => {
    await api?.stop();
    await iso?.cleanup();
  });

  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const linesOf = (reqId: string) => parsed().filter((line) => line.reqId === reqId);
  async function until(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    if (!check()) throw new Error(`never logged: ${what}`);
  }

  test('when a request carries no X-Request-Id, then the answer carries a generated UUID, and the log line of the request has it with the status', async () => {
    const answer = await rawRequest(baseUrl, 'GET', '/healthz');
    const id = answer.headers.get('x-request-id');
    expect(id).toMatch(UUID);
    await until(() => linesOf(id!).length > 0, id!);
    expect(linesOf(id!)).toEqual([expect.objectContaining({ reqId: id, res: { statusCode: 200 } })]);
  });

  test('when two requests carry none, then they get different ids', async () => {
    const [one, two] = await Promise.all([
      rawRequest(baseUrl, 'GET', '/healthz'),
      rawRequest(baseUrl, 'GET', '/healthz'),
    ]);
    expect(one.headers.get('x-request-id')).not.toBe(two.headers.get('x-request-id'));
  });

  test('when a request carries a plain X-Request-Id, then it is echoed and logged with the status', async () => {
    const answer = await rawRequest(baseUrl, 'GET', '/api/no-such-route', { headers: { 'x-request-id': 'abc-123' } });
    expect(answer.status).toBe(404);
    expect(answer.headers.get('x-request-id')).toBe('abc-123');
    await until(() => linesOf('abc-123').length > 0, 'abc-123');
    expect(linesOf('abc-123')).toEqual([
      expect.objectContaining({
        reqId: 'abc-123',
        res: { statusCode: 404 },
        req: expect.objectContaining({ path: '/api/no-such-route' }),
      }),
    ]);
  });

  test.each([
    ['with spaces', 'abc 123 def'],
    ['500 characters long', 'a'.repeat(500)],
    ['markup', '<script>alert(1)</script>'],
    ['a log-forging attempt', 'abc","level":60,"msg":"forged'],
  ])(
    'when a request carries a hostile X-Request-Id (%s), then it is replaced by a generated one, in the answer and in the log',
    async (_what, hostile) => {
      const answer = await rawRequest(baseUrl, 'GET', '/healthz', { headers: { 'x-request-id': hostile } });
      const id = answer.headers.get('x-request-id');
      expect(id).toMatch(UUID);
      await until(() => linesOf(id!).length > 0, id!);
      expect(lines.filter((line) => line.includes(hostile))).toEqual([]);
    },
  );

  test('when a user logs in, calls the API with a bearer token and opens an event stream with a ?token= stream token, then the log has their lines and none holds the token, the password or the stream token', async () => {
    const login = await rawRequest(baseUrl, 'POST', '/api/auth/login', {
      body: { email: 'logged@example.com', password: PASSWORD, name: 'Logged' },
    });
    expect(login.status).toBe(200);
    const token = (JSON.parse(login.text) as ApiSuccess<AuthResult>).data.token;
    const wrong = await rawRequest(baseUrl, 'POST', '/api/auth/login', {
      body: { email: 'logged@example.com', password: WRONG_PASSWORD },
    });
    expect(wrong.status).toBe(401);

    const created = await rawRequest(baseUrl, 'POST', '/api/generations', {
      headers: { ...bearer(token), 'x-request-id': 'create-1' },
      body: { prompt: 'A logged generation' },
    });
    expect(created.status).toBe(202);
    const id = (JSON.parse(created.text) as ApiSuccess<Generation>).data.id;
    const issued = await rawRequest(baseUrl, 'POST', `/api/generations/${id}/events/token`, { headers: bearer(token) });
    expect(issued.status).toBe(200);
    const streamToken = (JSON.parse(issued.text) as ApiSuccess<{ token: string }>).data.token;

    // The stream stays open on a pending generation: rawRequest hangs up once the headers are in.
    const stream = await rawRequest(
      baseUrl,
      'GET',
      `/api/generations/${id}/events?token=${encodeURIComponent(streamToken)}`,
      {
        headers: { 'x-request-id': 'stream-1' },
      },
    );
    expect(stream.status).toBe(200);
    // A bad stream token is refused, and must not be logged either.
    const badStreamToken = `${streamToken.slice(0, -4)}AAAA`;
    const refused = await rawRequest(baseUrl, 'GET', `/api/generations/${id}/events?token=${badStreamToken}`, {
      headers: { 'x-request-id': 'stream-2' },
    });
    expect(refused.status).toBe(401);

    await until(() => linesOf('create-1').length > 0 && linesOf('stream-2').length > 0, 'create-1, stream-2');
    expect(linesOf('create-1')).toEqual([expect.objectContaining({ res: { statusCode: 202 } })]);
    expect(linesOf('stream-2')).toEqual([
      expect.objectContaining({
        res: { statusCode: 401 },
        req: expect.objectContaining({ path: `/api/generations/${id}/events` }),
      }),
    ]);
    // The stream's line comes when it closes: at the latest when the API stops.
    await api!.stop();
    api = undefined;
    expect(linesOf('stream-1')).toEqual([
      expect.objectContaining({
        reqId: 'stream-1',
        req: expect.objectContaining({ path: `/api/generations/${id}/events` }),
      }),
    ]);

    const secrets = {
      token,
      tokenSignature: token.split('.')[2]!,
      password: PASSWORD,
      wrongPassword: WRONG_PASSWORD,
      streamToken,
      streamTokenSignature: streamToken.split('.')[2]!,
      badStreamToken,
    };
    for (const [name, secret] of Object.entries(secrets)) {
      expect({ name, lines: lines.filter((line) => line.includes(secret)) }).toEqual({ name, lines: [] });
    }
  });
});

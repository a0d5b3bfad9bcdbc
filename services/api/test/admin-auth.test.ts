import jwt from 'jsonwebtoken';
import { MongoClient, ObjectId } from 'mongodb';
import pino from 'pino';
import { type ApiSuccess, type AuthResult, type WebhookSecretView, ConfigError } from '@imagegen/shared';
import { COLLECTIONS, type UserDocument } from '@imagegen/core';
import type { ApiClient } from '../../../test/support/api-client';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { configErrorOf } from './config-error';
import { ensureAdmin } from '../src/admin/admin-bootstrap';
import { Passwords } from '../src/auth/password';
import { UserRepository } from '../src/users/user.repository';
import { loadApiConfig } from '../src/config';
import { startApi, type RunningApi } from '../src/server';
import { JWT_SECRET, apiEnv, startHarness, type Harness } from './api-harness';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  ADMIN_ENV,
  QAPI,
  GEN_QAPI,
  deletes,
  Answer,
  send,
  Browser,
  CSRF_FIELD,
  openLoginForm,
  submitLogin,
  signInToDashboard,
  signIn,
  usersOf,
  recordOf,
  JobFailer,
} from './admin-support';

describe('admin bootstrap from ADMIN_EMAIL and ADMIN_PASSWORD', () => {
  let iso: Isolation;
  let mongo: MongoClient;
  let api: RunningApi | undefined;
  let baseUrl: string;
  /** Every line any API started here logged, at every level. */
  const logLines: string[] = [];
  /** Every body the APIs answered here. */
  const answers: string[] = [];

  async function start(extra: Record<string, string>): Promise<void> {
    await api?.stop();
    const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
    api = await startApi(loadApiConfig(apiEnv(iso, extra)), logger);
    baseUrl = `http://127.0.0.1:${api.port}`;
  }

  async function login(email: string, password: string): Promise<Answer> {
    const answer = await send(baseUrl, '/api/auth/login', { method: 'POST', body: { email, password } });
    answers.push(answer.text);
    return answer;
  }

  const users = () => mongo.db().collection<UserDocument>(COLLECTIONS.users);

  beforeAll(async () => {
    iso = isolation();
    mongo = await MongoClient.connect(iso.mongoUri);
  });

  afterAll(async () => {
    await api?.stop();
    await mongo?.close();
    await iso?.cleanup();
  });

  test('when the API starts with both on an empty database, then that account exists as an admin and logs in through POST /api/auth/login', async () => {
    await start(ADMIN_ENV);

    const accounts = await users().find({ email: ADMIN_EMAIL }).toArray();
    expect(accounts).toHaveLength(1);
    expect(accounts[0]!.role).toBe('admin');

    const answer = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
    expect(answer.status).toBe(200);
    expect(answer.json<ApiSuccess<AuthResult>>().data.user).toMatchObject({ email: ADMIN_EMAIL, role: 'admin' });
    expect((await login(ADMIN_EMAIL, 'not the password at all')).status).toBe(401);
  });

  test('when the API restarts with the same settings, then the account is not duplicated and still logs in', async () => {
    await start(ADMIN_ENV);
    const before = await users().findOne({ email: ADMIN_EMAIL });
    await start(ADMIN_ENV);

    const accounts = await users().find({ email: ADMIN_EMAIL }).toArray();
    expect(accounts.map((a) => a._id.toHexString())).toEqual([before!._id.toHexString()]);
    expect(accounts[0]!.role).toBe('admin');
    expect((await login(ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
  });

  test('when ADMIN_EMAIL names an existing user and ADMIN_PROMOTE_EXISTING=true, then that same account is promoted, its password replaced and its old token, sessions and webhook secret revoked', async () => {
    await start({});
    const registered = await send(baseUrl, '/api/auth/login', {
      method: 'POST',
      body: { email: 'existing@example.com', password: 'old password 1', name: 'Existing' },
    });
    expect(registered.status).toBe(200);
    const { token: oldToken, user } = registered.json<ApiSuccess<AuthResult>>().data;
    const id = user.id;
    expect(user.role).toBe('user');
    const oldSecret = await send(baseUrl, '/api/webhooks/secret', { token: oldToken });
    expect(oldSecret.status).toBe(200);

    // Mixed case on purpose: the config lowercases the address, as registration does.
    await start({
      ADMIN_EMAIL: 'Existing@Example.com',
      ADMIN_PASSWORD: 'the new admin password',
      ADMIN_PROMOTE_EXISTING: 'true',
    });

    const accounts = await users().find({ email: 'existing@example.com' }).toArray();
    expect(accounts.map((a) => [a._id.toHexString(), a.role])).toEqual([[id, 'admin']]);
    expect((await login('existing@example.com', 'old password 1')).status).toBe(401);
    const answer = await login('existing@example.com', 'the new admin password');
    expect(answer.status).toBe(200);
    expect(answer.json<ApiSuccess<AuthResult>>().data.user).toMatchObject({ id, role: 'admin' });

    // The token of the account as it was opens nothing, admin or not.
    expect((await send(baseUrl, '/api/admin/queues', { token: oldToken })).status).toBe(401);
    expect((await send(baseUrl, '/api/generations', { token: oldToken })).status).toBe(401);
    const secret = await send(baseUrl, '/api/webhooks/secret', {
      token: answer.json<ApiSuccess<AuthResult>>().data.token,
    });
    expect(secret.json<ApiSuccess<WebhookSecretView>>().data).toMatchObject({ previous_secret_expires_at: null });
    expect(secret.json<ApiSuccess<WebhookSecretView>>().data.secret).not.toBe(
      oldSecret.json<ApiSuccess<WebhookSecretView>>().data.secret,
    );
  });

  test('when ADMIN_EMAIL names an existing non-admin and ADMIN_PROMOTE_EXISTING is not set, then the bootstrap refuses with a ConfigError naming the setting and the account is left as it was', async () => {
    await start({});
    const registered = await send(baseUrl, '/api/auth/login', {
      method: 'POST',
      body: { email: 'squatter@example.com', password: 'squatter password', name: 'Squatter' },
    });
    const { token } = registered.json<ApiSuccess<AuthResult>>().data;
    const before = await users().findOne({ email: 'squatter@example.com' });

    const refused = await ensureAdmin(
      new UserRepository(mongo.db()),
      new Passwords(Number(iso.env.PASSWORD_HASH_COST)),
      { email: 'squatter@example.com', password: 'the operator password', promoteExisting: false },
      pino({ level: 'silent' }),
    ).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).problems).toEqual([
      expect.stringMatching(/^ADMIN_EMAIL: .*ADMIN_PROMOTE_EXISTING/),
    ]);
    expect(await users().findOne({ email: 'squatter@example.com' })).toEqual(before);
    expect((await send(baseUrl, '/api/generations', { token })).status).toBe(200);
  });

  test('when the API restarts with the same ADMIN_PASSWORD, then the admin’s tokens keep working; with another, they are revoked', async () => {
    await start(ADMIN_ENV);
    const token = (await login(ADMIN_EMAIL, ADMIN_PASSWORD)).json<ApiSuccess<AuthResult>>().data.token;
    await start(ADMIN_ENV);
    expect((await send(baseUrl, '/api/admin/queues', { token })).status).toBe(200);

    await start({ ADMIN_EMAIL, ADMIN_PASSWORD: 'a password changed by the operator' });
    expect((await send(baseUrl, '/api/admin/queues', { token })).status).toBe(401);
    expect((await send(baseUrl, '/api/generations', { token })).status).toBe(401);
    expect((await login(ADMIN_EMAIL, 'a password changed by the operator')).status).toBe(200);
  });

  test('when the API started with ADMIN_PASSWORD, then the password appears in none of its logs, stored users or answers', async () => {
    await start(ADMIN_ENV);
    expect((await login(ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
    // The capture works: the bootstrap's own line is there (so an absent password means something).
    expect(logLines.some((line) => line.includes('admin account ready') && line.includes(ADMIN_EMAIL))).toBe(true);
    const stored = JSON.stringify(await users().find().toArray());
    for (const password of [ADMIN_PASSWORD, 'the new admin password']) {
      expect(logLines.filter((line) => line.includes(password))).toEqual([]);
      expect(stored).not.toContain(password);
      expect(answers.filter((body) => body.includes(password))).toEqual([]);
    }
  });
});

describe('loadApiConfig with the admin settings', () => {
  test('when ADMIN_EMAIL is set without ADMIN_PASSWORD, then a ConfigError names ADMIN_PASSWORD', () => {
    expect(configErrorOf({ ADMIN_EMAIL }).problems).toEqual([expect.stringMatching(/^ADMIN_PASSWORD: /)]);
  });

  test('when ADMIN_PASSWORD is set without ADMIN_EMAIL, then a ConfigError names ADMIN_EMAIL', () => {
    expect(configErrorOf({ ADMIN_PASSWORD }).problems).toEqual([expect.stringMatching(/^ADMIN_EMAIL: /)]);
  });

  test('when ADMIN_PASSWORD is shorter than 12 characters, then a ConfigError names it, without echoing it', () => {
    const error = configErrorOf({ ADMIN_EMAIL, ADMIN_PASSWORD: 'short-pw-11' });
    expect(error.problems).toEqual([expect.stringMatching(/^ADMIN_PASSWORD: .*12/)]);
    expect(error.message).not.toContain('short-pw-11');
  });

  test('when both are set and the password has 12 characters, then the config loads with the email lowercased', () => {
    const config = loadApiConfig({ ADMIN_EMAIL: 'Root@Example.COM', ADMIN_PASSWORD: '123456789012' });
    expect(config).toMatchObject({ ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: '123456789012' });
  });
});

// ---------------------------------------------------------------------------------------------
// 2. The login form
// ---------------------------------------------------------------------------------------------

describe('the /admin/login form', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    await h.user('plain@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when it is opened, then it answers an HTML form whose hidden csrf field is bound to an HttpOnly login cookie (signed, not a copy), with a CSP and X-Frame-Options DENY', async () => {
    const page = await send(h.baseUrl, '/admin/login');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csrf = CSRF_FIELD.exec(page.text)?.[1];
    expect(csrf).toEqual(expect.any(String));
    const cookie = page.cookies.get('imagegen_admin_login');
    expect(cookie?.value).toMatch(/^[\w-]{20,}$/);
    expect(csrf).not.toBe(cookie?.value);
    expect(cookie?.attrs.has('httponly')).toBe(true);
    expect(cookie?.attrs.get('path')).toBe('/admin');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.cookies.has('imagegen_admin')).toBe(false);
  });

  test('when an admin posts the right credentials and csrf, then it redirects 303 to /admin/queues with an HttpOnly strict session cookie and a readable XSRF-TOKEN, neither Secure over http', async () => {
    const browser = new Browser(h.baseUrl);
    const csrf = await openLoginForm(browser);
    const answer = await submitLogin(browser, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf });

    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/admin/queues');
    const session = answer.cookies.get('imagegen_admin');
    const xsrf = answer.cookies.get('XSRF-TOKEN');
    expect(session?.value).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(session?.attrs.has('httponly')).toBe(true);
    expect(session?.attrs.get('samesite')?.toLowerCase()).toBe('strict');
    expect(session?.attrs.get('path')).toBe('/admin');
    expect(session?.attrs.has('secure')).toBe(false);
    expect(xsrf?.value).toMatch(/^[\w-]{20,}$/);
    expect(xsrf?.attrs.has('httponly')).toBe(false);
    expect(xsrf?.attrs.get('samesite')?.toLowerCase()).toBe('strict');
    expect(xsrf?.attrs.get('path')).toBe('/admin');
    expect(xsrf?.attrs.has('secure')).toBe(false);
    // Both last ADMIN_SESSION_TTL_SECONDS (1800 by default), as does the token in the session cookie.
    expect([session?.attrs.get('max-age'), xsrf?.attrs.get('max-age')]).toEqual(['1800', '1800']);
    const claims = jwt.decode(session!.value) as { exp: number; iat: number; role: string; jti?: string };
    expect({ ttl: claims.exp - claims.iat, role: claims.role, jti: typeof claims.jti }).toEqual({
      ttl: 1800,
      role: 'admin',
      jti: 'string',
    });
    // The login form's one-time cookie is dropped once used.
    expect(deletes(answer.cookies.get('imagegen_admin_login'))).toBe(true);

    // The session opens the dashboard.
    const dashboard = await browser.send('/admin/queues');
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get('content-type')).toMatch(/^text\/html/);
  });

  test('when the email is typed in another case and with spaces, then the admin signs in all the same', async () => {
    const browser = new Browser(h.baseUrl);
    const csrf = await openLoginForm(browser);
    const answer = await submitLogin(browser, { email: '  Root@EXAMPLE.com ', password: ADMIN_PASSWORD, csrf });
    expect(answer.status).toBe(303);
    expect(browser.jar.has('imagegen_admin')).toBe(true);
  });

  test('when X-Forwarded-Proto says https but TRUST_PROXY is off, then the cookies are still not Secure', async () => {
    const browser = new Browser(h.baseUrl);
    const csrf = await openLoginForm(browser);
    const answer = await submitLogin(
      browser,
      { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf },
      { 'x-forwarded-proto': 'https' },
    );
    expect(answer.status).toBe(303);
    expect(answer.cookies.get('imagegen_admin')?.attrs.has('secure')).toBe(false);
  });

  test.each([
    ['a wrong password', ADMIN_EMAIL, 'wrong password here'],
    ['an unknown email', 'nobody@example.com', ADMIN_PASSWORD],
  ])(
    'when the form is posted with %s, then it answers a 401 page with the generic message and no session',
    async (_case, email, password) => {
      const browser = new Browser(h.baseUrl);
      const csrf = await openLoginForm(browser);
      const answer = await submitLogin(browser, { email, password, csrf });
      expect(answer.status).toBe(401);
      expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
      expect(answer.text).toContain('Invalid email or password');
      expect(answer.cookies.has('imagegen_admin')).toBe(false);
      expect(answer.cookies.has('XSRF-TOKEN')).toBe(false);
      // A fresh form to try again.
      expect(CSRF_FIELD.test(answer.text)).toBe(true);
    },
  );

  test('when a non-admin posts their right credentials, then it answers a 403 page and opens no session', async () => {
    const browser = new Browser(h.baseUrl);
    const csrf = await openLoginForm(browser);
    const answer = await submitLogin(browser, { email: 'plain@example.com', password: 'password123', csrf });
    expect(answer.status).toBe(403);
    expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    expect(answer.text).toMatch(/not an administrator/);
    expect(answer.cookies.has('imagegen_admin')).toBe(false);
    expect(answer.cookies.has('XSRF-TOKEN')).toBe(false);
  });

  test.each([
    ['no csrf field', (_csrf: string) => ({}), true],
    ['an empty csrf field', (_csrf: string) => ({ csrf: '' }), true],
    ['a csrf field that does not match the cookie', (csrf: string) => ({ csrf: `${csrf.slice(0, -2)}xx` }), true],
    ['the right csrf field but no login cookie', (csrf: string) => ({ csrf }), false],
  ])(
    'when the form is posted with the right credentials but %s, then it answers 403 and opens no session',
    async (_case, csrfFields, keepCookie) => {
      const browser = new Browser(h.baseUrl);
      const csrf = await openLoginForm(browser);
      if (!keepCookie) browser.jar.delete('imagegen_admin_login');
      const answer = await submitLogin(browser, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, ...csrfFields(csrf) });
      expect(answer.status).toBe(403);
      expect(answer.text).toMatch(/form expired/i);
      expect(answer.cookies.has('imagegen_admin')).toBe(false);
      expect(answer.cookies.has('XSRF-TOKEN')).toBe(false);
    },
  );

  test('when a signed-in admin opens /admin/logout, then both cookies are cleared on /admin and it redirects 303 to /admin/login', async () => {
    const browser = await signInToDashboard(h);
    const answer = await browser.send('/admin/logout');
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/admin/login');
    for (const name of ['imagegen_admin', 'XSRF-TOKEN']) {
      const cookie = answer.cookies.get(name);
      expect({ name, deletes: deletes(cookie), path: cookie?.attrs.get('path') }).toEqual({
        name,
        deletes: true,
        path: '/admin',
      });
    }
    // The browser has nothing left to open the dashboard with.
    const dashboard = await browser.send('/admin/queues');
    expect(dashboard.status).toBe(303);
    expect(dashboard.headers.get('location')).toBe('/admin/login');
  });
});

describe('the /admin/login form behind a TLS-terminating proxy (TRUST_PROXY=true)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ ...ADMIN_ENV, TRUST_PROXY: 'true' });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when the proxy says X-Forwarded-Proto https, then the login, session and XSRF cookies are Secure', async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const browser = new Browser(h.baseUrl);
    const page = await browser.send('/admin/login', { headers: https });
    expect(page.cookies.get('imagegen_admin_login')?.attrs.has('secure')).toBe(true);
    const csrf = CSRF_FIELD.exec(page.text)![1]!;

    const answer = await submitLogin(browser, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf }, https);
    expect(answer.status).toBe(303);
    expect(answer.cookies.get('imagegen_admin')?.attrs.has('secure')).toBe(true);
    expect(answer.cookies.get('XSRF-TOKEN')?.attrs.has('secure')).toBe(true);
  });

  test('when the request came over plain http, then the cookies are not Secure', async () => {
    const browser = new Browser(h.baseUrl);
    const csrf = await openLoginForm(browser);
    const answer = await submitLogin(browser, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf });
    expect(answer.status).toBe(303);
    expect(answer.cookies.get('imagegen_admin')?.attrs.has('secure')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Guards
// ---------------------------------------------------------------------------------------------

describe('who gets into /api/admin and /admin/queues', () => {
  let h: Harness;
  let admin: { client: ApiClient; id: string };
  let plain: { client: ApiClient; id: string };
  let generationId: string;

  /** Every route of the admin JSON API, with a body where it takes one. */
  const apiRoutes = (): Array<[string, string, unknown?]> => [
    ['GET', '/api/admin/queues'],
    ['GET', '/api/admin/generations'],
    ['POST', `/api/admin/generations/${generationId}/retry`],
    ['PATCH', `/api/admin/users/${plain.id}`, { role: 'admin' }],
  ];

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    admin = await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD);
    plain = await signIn(h, 'plain@example.com');
    generationId = (await plain.client.create({ prompt: 'a cat' })).id;
  });

  afterAll(async () => {
    await h?.stop();
  });

  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  test.each(['/admin/queues', '/admin/queues/queue/generations'])(
    'when a browser without a session opens %s, then it redirects 303 to /admin/login',
    async (path) => {
      const answer = await send(h.baseUrl, path);
      expect(answer.status).toBe(303);
      expect(answer.headers.get('location')).toBe('/admin/login');
    },
  );

  test("when there is no session, then the dashboard's JSON API answers 401 JSON, not a redirect", async () => {
    const answer = await send(h.baseUrl, `${QAPI}`);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toMatch(/json/);
    expect(answer.json()).toMatchObject({ success: false, message: expect.any(String) });
  });

  test('when a request to /api/admin carries no token, then every route answers 401', async () => {
    for (const [method, path, body] of apiRoutes()) {
      const answer = await send(h.baseUrl, path, { method, body });
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 401 });
    }
  });

  test("when a non-admin's bearer token is used, then every /api/admin route answers 403 and changes nothing", async () => {
    for (const [method, path, body] of apiRoutes()) {
      const answer = await send(h.baseUrl, path, { method, body, token: plain.client.token });
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 403 });
    }
    expect((await usersOf(h).findOne({ _id: new ObjectId(plain.id) }))!.role).toBe('user');
    expect((await recordOf(h, generationId)).status).toBe('pending');
  });

  test("when a non-admin's bearer token is used on the dashboard, then its page and API answer 403 and the queue is untouched", async () => {
    const token = plain.client.token;
    const tries: Array<[string, string]> = [
      ['GET', '/admin/queues'],
      ['GET', QAPI],
      ['PUT', `${GEN_QAPI}/pause`],
      ['PUT', `${GEN_QAPI}/${generationId}/retry`],
    ];
    for (const [method, path] of tries) {
      const answer = await send(h.baseUrl, path, { method, token });
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 403 });
    }
    expect(await h.queue.isPaused()).toBe(false);
  });

  test("when an ordinary token (a non-admin's or even an admin's) is put in the session cookie, then it is no session: the page redirects to the login and the API answers 401", async () => {
    const admin = await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD);
    for (const token of [plain.client.token, admin.client.token]) {
      const cookie = `imagegen_admin=${token}`;
      const page = await send(h.baseUrl, '/admin/queues', { headers: { cookie } });
      expect({ status: page.status, location: page.headers.get('location') }).toEqual({
        status: 303,
        location: '/admin/login',
      });
      expect((await send(h.baseUrl, QAPI, { headers: { cookie } })).status).toBe(401);
    }
  });

  test("when a dashboard session's token is used as a bearer token, then the API refuses it", async () => {
    const browser = await signInToDashboard(h);
    const sessionToken = browser.jar.get('imagegen_admin');
    expect(sessionToken).toBeDefined();
    expect((await send(h.baseUrl, '/api/admin/queues', { token: sessionToken })).status).toBe(401);
    expect((await send(h.baseUrl, '/api/generations', { token: sessionToken })).status).toBe(401);
  });

  test("when an admin's bearer token is used, then the dashboard page (HTML) and its API answer 200", async () => {
    const page = await send(h.baseUrl, '/admin/queues', { token: admin.client.token });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const api = await send(h.baseUrl, QAPI, { token: admin.client.token });
    expect(api.status).toBe(200);
    expect(
      api
        .json<{ queues: Array<{ name: string }> }>()
        .queues.map((q) => q.name)
        .sort(),
    ).toEqual(['generation-deadlines', 'generations', 'webhooks']);
  });

  test('when a token is signed here for the admin with the right secret, then it is accepted (so the rejections below are for their stated reason)', async () => {
    const token = jwt.sign({ role: 'admin' }, JWT_SECRET, { algorithm: 'HS256', subject: admin.id, expiresIn: 60 });
    expect((await send(h.baseUrl, '/api/admin/queues', { token })).status).toBe(200);
    expect((await send(h.baseUrl, QAPI, { token })).status).toBe(200);
  });

  test.each([
    [
      'is signed with another secret',
      () => jwt.sign({ role: 'admin' }, 'y'.repeat(32), { algorithm: 'HS256', subject: admin.id, expiresIn: 60 }),
    ],
    [
      'says alg none and carries no signature',
      () =>
        `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: admin.id, role: 'admin', exp: nowSeconds() + 60 })}.`,
    ],
    [
      'expired',
      () =>
        jwt.sign({ role: 'admin', sub: admin.id, exp: nowSeconds() - 60, iat: nowSeconds() - 120 }, JWT_SECRET, {
          algorithm: 'HS256',
        }),
    ],
  ])(
    "when an admin's token %s, then /api/admin and the dashboard API answer 401 and the page sends the browser to log in",
    async (_case, forge) => {
      const token = forge();
      expect((await send(h.baseUrl, '/api/admin/queues', { token })).status).toBe(401);
      expect((await send(h.baseUrl, QAPI, { token })).status).toBe(401);
      expect((await send(h.baseUrl, `${GEN_QAPI}/pause`, { method: 'PUT', token })).status).toBe(401);
      const page = await send(h.baseUrl, '/admin/queues', { headers: { cookie: `imagegen_admin=${token}` } });
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toBe('/admin/login');
      expect(await h.queue.isPaused()).toBe(false);
    },
  );

  test('when an admin is revoked, then their old token (which still says admin) loses access at once', async () => {
    const other = await signIn(h, 'deputy@example.com');
    const granted = await send(h.baseUrl, `/api/admin/users/${other.id}`, {
      method: 'PATCH',
      token: admin.client.token,
      body: { role: 'admin' },
    });
    expect(granted.status).toBe(200);
    // A token issued while an admin: its role claim says admin.
    const deputy = await signIn(h, 'deputy@example.com');
    expect((jwt.decode(deputy.client.token!) as { role: string }).role).toBe('admin');
    expect((await send(h.baseUrl, '/api/admin/queues', { token: deputy.client.token })).status).toBe(200);

    const revoked = await send(h.baseUrl, `/api/admin/users/${other.id}`, {
      method: 'PATCH',
      token: admin.client.token,
      body: { role: 'user' },
    });
    expect(revoked.status).toBe(200);

    // A role change revokes the account's tokens: 401, sign in again (and then 403, not an admin).
    expect((await send(h.baseUrl, '/api/admin/queues', { token: deputy.client.token })).status).toBe(401);
    expect((await send(h.baseUrl, QAPI, { token: deputy.client.token })).status).toBe(401);
    const page = await send(h.baseUrl, '/admin/queues', { token: deputy.client.token });
    expect({ status: page.status, location: page.headers.get('location') }).toEqual({
      status: 303,
      location: '/admin/login',
    });
    const again = await signIn(h, 'deputy@example.com');
    expect((await send(h.baseUrl, '/api/admin/queues', { token: again.client.token })).status).toBe(403);
  });

  test('when an admin signs in through the form and is then revoked, then the session cookie loses access at once', async () => {
    await signIn(h, 'deputy2@example.com');
    const id = (await usersOf(h).findOne({ email: 'deputy2@example.com' }))!._id;
    await usersOf(h).updateOne({ _id: id }, { $set: { role: 'admin' } });
    const browser = await signInToDashboard(h, 'deputy2@example.com', 'password123');
    expect((await browser.send(QAPI)).status).toBe(200);

    const revoked = await send(h.baseUrl, `/api/admin/users/${id.toHexString()}`, {
      method: 'PATCH',
      token: admin.client.token,
      body: { role: 'user' },
    });
    expect(revoked.status).toBe(200);
    expect((await browser.send(QAPI)).status).toBe(401);
    expect((await browser.act('PUT', `${GEN_QAPI}/pause`)).status).toBe(401);
    expect(await h.queue.isPaused()).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. CSRF on the dashboard
// ---------------------------------------------------------------------------------------------

describe('CSRF protection of the dashboard', () => {
  let h: Harness;
  let browser: Browser;
  const pause = `${GEN_QAPI}/pause`;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    browser = await signInToDashboard(h);
  });

  afterEach(async () => {
    await h.queue.resume();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when a session reads the dashboard API, then it needs no CSRF token', async () => {
    expect((await browser.send(QAPI)).status).toBe(200);
  });

  test('when a session pauses the queue without X-XSRF-TOKEN, then it answers 403 and the queue is not paused', async () => {
    const answer = await browser.send(pause, { method: 'PUT' });
    expect(answer.status).toBe(403);
    expect(answer.json().message).toMatch(/CSRF/);
    expect(await h.queue.isPaused()).toBe(false);
  });

  test('when a session pauses the queue with a wrong X-XSRF-TOKEN, then it answers 403 and the queue is not paused', async () => {
    const right = browser.jar.get('XSRF-TOKEN')!;
    const answer = await browser.send(pause, {
      method: 'PUT',
      headers: { 'x-xsrf-token': `${right.slice(0, -3)}abc` },
    });
    expect(answer.status).toBe(403);
    expect(await h.queue.isPaused()).toBe(false);
  });

  test("when a session sends another session's XSRF token, then it answers 403 (the token is bound to its session)", async () => {
    const other = await signInToDashboard(h);
    expect(other.jar.get('XSRF-TOKEN')).not.toBe(browser.jar.get('XSRF-TOKEN'));
    const answer = await browser.send(pause, {
      method: 'PUT',
      headers: { 'x-xsrf-token': other.jar.get('XSRF-TOKEN')! },
    });
    expect(answer.status).toBe(403);
    expect(await h.queue.isPaused()).toBe(false);
  });

  test('when the browser says Sec-Fetch-Site cross-site, then it answers 403 even with the right token', async () => {
    const answer = await browser.send(pause, {
      method: 'PUT',
      headers: { 'x-xsrf-token': browser.jar.get('XSRF-TOKEN')!, 'sec-fetch-site': 'cross-site' },
    });
    expect(answer.status).toBe(403);
    expect(await h.queue.isPaused()).toBe(false);
  });

  test('when a session pauses the queue with the XSRF-TOKEN cookie in X-XSRF-TOKEN, then it answers 200 and the queue is paused', async () => {
    const answer = await browser.act('PUT', pause);
    expect(answer.status).toBe(200);
    expect(await h.queue.isPaused()).toBe(true);
  });

  test('when an admin bearer token pauses the queue without any CSRF token, then it answers 200 and the queue is paused', async () => {
    const admin = await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD);
    const answer = await send(h.baseUrl, pause, { method: 'PUT', token: admin.client.token });
    expect(answer.status).toBe(200);
    expect(await h.queue.isPaused()).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Read-only dashboard
// ---------------------------------------------------------------------------------------------

describe('the dashboard with ADMIN_DASHBOARD_READONLY=true', () => {
  let h: Harness;
  let failer: JobFailer;
  let browser: Browser;
  let token: string;
  let failedId: string;

  beforeAll(async () => {
    h = await startHarness({ ...ADMIN_ENV, ADMIN_DASHBOARD_READONLY: 'true' });
    failer = new JobFailer(h);
    token = (await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD)).client.token!;
    browser = await signInToDashboard(h);
    const user = await h.user('maker@example.com');
    failedId = (await user.create({ prompt: 'a cat' })).id;
    await failer.fail(failedId);
  });

  afterAll(async () => {
    await failer?.close();
    await h?.stop();
  });

  async function expectUnchanged(): Promise<void> {
    expect(await h.queue.isPaused()).toBe(false);
    expect(await h.queue.getJobState(failedId)).toBe('failed');
    const record = await recordOf(h, failedId);
    expect({ status: record.status, history: record.history }).toEqual({ status: 'failed', history: [] });
  }

  test('when an admin reads the dashboard, then the page and its API answer 200 and the queues say read-only', async () => {
    expect((await browser.send('/admin/queues')).status).toBe(200);
    const api = await browser.send(QAPI);
    expect(api.status).toBe(200);
    const queues = api.json<{ queues: Array<{ name: string; readOnlyMode: boolean }> }>().queues;
    expect(queues.map((q) => [q.name, q.readOnlyMode]).sort()).toEqual([
      ['generation-deadlines', true],
      ['generations', true],
      ['webhooks', true],
    ]);
  });

  test.each([
    ['pausing the queue', () => `${GEN_QAPI}/pause`],
    ['retrying one failed job', () => `${GEN_QAPI}/${failedId}/retry`],
    ['retrying every failed job', () => `${GEN_QAPI}/retry/failed`],
  ])(
    'when a session with the right CSRF token tries %s, then it answers 405 and changes nothing',
    async (_case, path) => {
      const answer = await browser.act('PUT', path());
      expect(answer.status).toBe(405);
      await expectUnchanged();
    },
  );

  test('when an admin bearer token tries the same actions, then they answer 405 too and change nothing', async () => {
    for (const path of [`${GEN_QAPI}/pause`, `${GEN_QAPI}/${failedId}/retry`, `${GEN_QAPI}/retry/failed`]) {
      const answer = await send(h.baseUrl, path, { method: 'PUT', token });
      expect({ path, status: answer.status }).toEqual({ path, status: 405 });
    }
    await expectUnchanged();
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Admin JSON API
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 7. Sessions that end, and forms that cannot be planted
// ---------------------------------------------------------------------------------------------

describe('the end of a dashboard session, and the login form’s CSRF binding', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
  });

  afterEach(async () => {
    await h.queue.resume();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when an admin logs out, then the session cookie replayed afterwards opens nothing, while another session of the same admin goes on', async () => {
    const browser = await signInToDashboard(h);
    const other = await signInToDashboard(h);
    const stolen = new Map(browser.jar);
    expect((await browser.send('/admin/logout')).status).toBe(303);

    const replay = new Browser(h.baseUrl);
    for (const [name, value] of stolen) replay.jar.set(name, value);
    const page = await replay.send('/admin/queues');
    expect({ status: page.status, location: page.headers.get('location') }).toEqual({
      status: 303,
      location: '/admin/login',
    });
    expect((await replay.send(QAPI)).status).toBe(401);
    expect((await replay.act('PUT', `${GEN_QAPI}/pause`)).status).toBe(401);
    expect(await h.queue.isPaused()).toBe(false);

    expect((await other.send(QAPI)).status).toBe(200);
  });

  test('when the login cookie was planted by someone else (cookie tossing) and the form copies its value, then it answers 403 and opens no session', async () => {
    const planted = 'planted-by-a-sibling-domain';
    const browser = new Browser(h.baseUrl);
    browser.jar.set('imagegen_admin_login', planted);
    const answer = await submitLogin(browser, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf: planted });
    expect(answer.status).toBe(403);
    expect(answer.cookies.has('imagegen_admin')).toBe(false);
  });

  test("when one form's csrf field is posted with another form's login cookie, then it answers 403", async () => {
    const first = new Browser(h.baseUrl);
    const second = new Browser(h.baseUrl);
    const csrf = await openLoginForm(first);
    await openLoginForm(second);
    const answer = await submitLogin(second, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf });
    expect(answer.status).toBe(403);
    expect(answer.cookies.has('imagegen_admin')).toBe(false);
  });

  test('when an admin demotes themself by their id in upper case, then it answers 409 and they stay an admin', async () => {
    const admin = await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD);
    const answer = await send(h.baseUrl, `/api/admin/users/${admin.id.toUpperCase()}`, {
      method: 'PATCH',
      token: admin.client.token,
      body: { role: 'user' },
    });
    expect(answer.status).toBe(409);
    expect((await usersOf(h).findOne({ _id: new ObjectId(admin.id) }))!.role).toBe('admin');
  });
});

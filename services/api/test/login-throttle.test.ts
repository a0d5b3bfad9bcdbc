import type { ApiFailure } from '@imagegen/shared';
import { startHarness, type Harness } from './api-harness';
import { ADMIN_EMAIL, ADMIN_ENV, ADMIN_PASSWORD, Browser, openLoginForm, submitLogin } from './admin-support';

const LIMITS = { LOGIN_FAILURES_PER_ACCOUNT: '3', LOGIN_FAILURES_PER_IP: '1000', LOGIN_FAILURE_WINDOW: '1h' };

/** A login without a name, so an unknown email is never registered by it. */
const login = (h: Harness, email: string, password: string) =>
  h.anonymous.request<ApiFailure>('POST', '/api/auth/login', { email, password });

describe('sign-in throttling per account', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(LIMITS);
    await h.user('dora@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when an account has had its failed sign-ins, then even the right password gets a 429 with Retry-After, worded as for an account that does not exist', async () => {
    for (let i = 0; i < 3; i++) expect((await login(h, 'dora@example.com', 'wrong password')).status).toBe(401);
    const refused = await login(h, 'dora@example.com', 'password123');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    for (let i = 0; i < 3; i++) expect((await login(h, 'nobody@example.com', 'wrong password')).status).toBe(401);
    const unknown = await login(h, 'nobody@example.com', 'wrong password');
    expect(unknown.status).toBe(429);
    expect(unknown.body).toEqual(refused.body);
  });

  test('when a sign-in succeeds, then the account’s failures start over', async () => {
    await h.user('eve@example.com');
    for (let i = 0; i < 2; i++) await login(h, 'eve@example.com', 'wrong password');
    expect((await login(h, 'eve@example.com', 'password123')).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await login(h, 'eve@example.com', 'wrong password')).status).toBe(401);
    expect((await login(h, 'eve@example.com', 'password123')).status).toBe(200);
  });

  test('when the dashboard form is used, then its failures count against the same account', async () => {
    await h.user('fay@example.com');
    for (let i = 0; i < 3; i++) await login(h, 'fay@example.com', 'wrong password');
    const form = await fetch(`${h.baseUrl}/admin/login`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const cookie = form.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const post = await fetch(`${h.baseUrl}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ email: 'fay@example.com', password: 'password123', csrf }).toString(),
    });
    expect(post.status).toBe(429);
    expect(post.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await post.text()).toContain('Too many failed sign-ins');
  });
});

describe('sign-in throttling per IP address', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ ...LIMITS, LOGIN_FAILURES_PER_ACCOUNT: '1000', LOGIN_FAILURES_PER_IP: '5' });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when one address fails across many accounts (a spray), then its next sign-in is refused whatever the account', async () => {
    for (let i = 0; i < 5; i++) expect((await login(h, `spray-${i}@example.com`, 'Winter2026!')).status).toBe(401);
    const refused = await login(h, 'spray-fresh@example.com', 'Winter2026!');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ success: false, message: 'Too many failed sign-ins; try again later' });
  });
});

describe('sign-in lockout per account and address (TRUST_PROXY=1: the address is the one proxy’s X-Forwarded-For)', () => {
  let h: Harness;
  const from = (ip: string, email: string, password: string) =>
    h.anonymous.request<ApiFailure>('POST', '/api/auth/login', { email, password }, { 'x-forwarded-for': ip });

  beforeAll(async () => {
    // The production cost: the 30 racing guesses below are all in flight while the first hashes
    // run, as in a real storm of guesses.
    h = await startHarness({ ...LIMITS, ...ADMIN_ENV, TRUST_PROXY: '1', PASSWORD_HASH_COST: '17' });
    await h.user('owner@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when someone at one address spends an account’s failed sign-ins, then that address is refused even the right password, and the owner at another address still signs in', async () => {
    for (let i = 0; i < 3; i++) expect((await from('203.0.113.7', 'owner@example.com', 'guess')).status).toBe(401);
    expect((await from('203.0.113.7', 'owner@example.com', 'password123')).status).toBe(429);

    expect((await from('198.51.100.2', 'owner@example.com', 'password123')).status).toBe(200);
    // The owner's success does not free the attacker's address.
    expect((await from('203.0.113.7', 'owner@example.com', 'password123')).status).toBe(429);
  });

  test('when someone locks the admin out through the dashboard form from one address, then the admin signs in through the form from another', async () => {
    const lockedOut = new Browser(h.baseUrl);
    for (let i = 0; i < 4; i++) {
      const csrf = await openLoginForm(lockedOut);
      const answer = await submitLogin(
        lockedOut,
        { email: ADMIN_EMAIL, password: `guess ${i}`, csrf },
        { 'x-forwarded-for': '203.0.113.8' },
      );
      expect(answer.status).toBe(i < 3 ? 401 : 429);
    }

    const admin = new Browser(h.baseUrl);
    const csrf = await openLoginForm(admin);
    const answer = await submitLogin(
      admin,
      { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, csrf },
      { 'x-forwarded-for': '198.51.100.3' },
    );
    expect(answer.status).toBe(303);
    expect(admin.jar.has('imagegen_admin')).toBe(true);
  });

  test('when 30 wrong passwords for one account come at once from one address, then exactly the limit of them is checked and the rest answer 429', async () => {
    await h.user('raced@example.com');
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => from('203.0.113.9', 'raced@example.com', `guess ${i}`)),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array<number>(3).fill(401), ...Array<number>(27).fill(429)]);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { ObjectId } from 'mongodb';
import type { ApiFailure, ApiSuccess, AuthResult } from '@imagegen/shared';
import { COLLECTIONS, type UserDocument } from '@imagegen/core';
import { ApiClient, type Reply } from '../../../test/support/api-client';
import { startHarness, startTestApi, subjectOf, type Harness } from './api-harness';
import { configErrorOf } from './config-error';

type AuthReply = Reply<ApiSuccess<AuthResult> | ApiFailure>;

/** The seed's exact login body (examples, "Login first"). */
const SEED_LOGIN = { email: 'user@example.com', password: 'password123', name: 'John Doe' };

describe('auth with auto-registration on (the default)', () => {
  let h: Harness;
  const post = (path: string, body: unknown): Promise<AuthReply> => h.anonymous.request('POST', path, body);

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when a new account is registered, then it answers 201 with a token and the public user', async () => {
    const reply = await post('/api/auth/register', {
      email: 'Register@Example.com',
      password: 'correct horse battery',
      name: 'Reg Ister',
    });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      success: true,
      data: {
        token: expect.any(String),
        token_type: 'Bearer',
        user: { id: expect.stringMatching(/^[0-9a-f]{24}$/), email: 'register@example.com', name: 'Reg Ister' },
      },
    });
    expect(reply.body.success && reply.body.data.user).not.toHaveProperty('password_hash');
  });

  test('when the same email registers again, then it answers 409', async () => {
    const reply = await post('/api/auth/register', {
      email: 'register@example.com',
      password: 'another password',
      name: 'Someone Else',
    });
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ success: false, message: expect.any(String) });
    expect(await h.db.collection(COLLECTIONS.users).countDocuments({ email: 'register@example.com' })).toBe(1);
  });

  test('when the seed logs in with email, password and name, then the account is created and it answers 200', async () => {
    const reply = await post('/api/auth/login', SEED_LOGIN);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      success: true,
      message: expect.any(String),
      data: expect.objectContaining({
        token: expect.any(String),
        user: expect.objectContaining({ email: SEED_LOGIN.email, name: SEED_LOGIN.name }),
      }),
    });
    // The token it hands out opens the protected routes.
    const list = await h.client(reply.body.success ? reply.body.data.token : '').request('GET', '/api/generations');
    expect(list.status).toBe(200);
  });

  test('when the seed logs in a second time, then it answers 200 as the same user', async () => {
    const first = await post('/api/auth/login', SEED_LOGIN);
    const second = await post('/api/auth/login', SEED_LOGIN);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ success: true, data: { token: expect.any(String) } });
    const idOf = (reply: AuthReply) => (reply.body.success ? reply.body.data.user.id : undefined);
    expect(idOf(second)).toBe(idOf(first));
    expect(await h.db.collection(COLLECTIONS.users).countDocuments({ email: SEED_LOGIN.email })).toBe(1);
  });

  test('when the password is wrong, then it answers 401 with the same message as an unknown email', async () => {
    const wrongPassword = await post('/api/auth/login', { ...SEED_LOGIN, password: 'not-the-password' });
    const unknownEmail = await post('/api/auth/login', { email: 'nobody@example.com', password: 'password123' });
    expect(wrongPassword.status).toBe(401);
    expect(unknownEmail.status).toBe(401);
    expect(wrongPassword.body).toMatchObject({ success: false, message: expect.any(String) });
    expect(wrongPassword.body).toEqual(unknownEmail.body);
    expect(await h.db.collection(COLLECTIONS.users).countDocuments({ email: 'nobody@example.com' })).toBe(0);
  });

  test('when a user is stored, then the users collection holds an scrypt hash and never the plain password', async () => {
    await post('/api/auth/login', SEED_LOGIN);
    const users = await h.db.collection<UserDocument>(COLLECTIONS.users).find().toArray();
    expect(users.length).toBeGreaterThanOrEqual(2);
    for (const user of users) {
      // N = 2^PASSWORD_HASH_COST: the API hashes at the configured cost.
      expect(user.password_hash.split('$').slice(0, 4)).toEqual([
        'scrypt',
        String(2 ** Number(h.iso.env.PASSWORD_HASH_COST)),
        '8',
        '1',
      ]);
      const stored = JSON.stringify(user);
      expect(stored).not.toContain('password123');
      expect(stored).not.toContain('correct horse battery');
    }
  });

  test('when a login with a name carries a short password, then it answers the same 400 whether or not the email has an account', async () => {
    const known = await post('/api/auth/login', { ...SEED_LOGIN, password: 'short' });
    const unknown = await post('/api/auth/login', {
      email: 'nobody-yet@example.com',
      password: 'short',
      name: 'No Body',
    });
    expect(known.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual(known.body);
    expect(known.body).toMatchObject({ success: false, errors: [{ field: 'password' }] });
    expect(await h.db.collection(COLLECTIONS.users).countDocuments({ email: 'nobody-yet@example.com' })).toBe(0);
  });

  test('when registration input is bad, then it answers 400 naming each field and creates nothing', async () => {
    const before = await h.db.collection(COLLECTIONS.users).countDocuments();
    const reply = await post('/api/auth/register', {
      email: 'not-an-email',
      password: 'short',
      name: '',
      role: 'admin',
    });
    expect(reply.status).toBe(400);
    const fields = reply.body.success ? [] : (reply.body.errors ?? []).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['email', 'password', 'name', 'role']));
    expect(await h.db.collection(COLLECTIONS.users).countDocuments()).toBe(before);
  });
});

describe('auth with AUTH_AUTO_REGISTER=false', () => {
  let h: Harness;
  let client: ApiClient;
  let stopNoRegister: () => Promise<void>;

  beforeAll(async () => {
    h = await startHarness();
    const noRegister = await startTestApi(h.iso, { AUTH_AUTO_REGISTER: 'false' });
    stopNoRegister = () => noRegister.api.stop();
    client = new ApiClient(noRegister.baseUrl);
  });

  afterAll(async () => {
    await stopNoRegister?.();
    await h?.stop();
  });

  test('when an unknown email logs in with a name, then it answers 401 and creates no account', async () => {
    const reply = await client.request('POST', '/api/auth/login', SEED_LOGIN);
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ success: false, message: expect.any(String) });
    expect(await h.db.collection(COLLECTIONS.users).countDocuments()).toBe(0);
  });

  test('when a registered account logs in, then it still answers 200', async () => {
    const registered = await client.request('POST', '/api/auth/register', SEED_LOGIN);
    expect(registered.status).toBe(201);
    const reply = await client.request('POST', '/api/auth/login', SEED_LOGIN);
    expect(reply.status).toBe(200);
  });
});

describe('tokens of a deleted account', () => {
  const CACHE_MS = 400;
  let h: Harness;
  let uncached: Harness;

  beforeAll(async () => {
    [h, uncached] = await Promise.all([
      startHarness({ AUTH_ACCOUNT_CACHE_MS: String(CACHE_MS) }),
      startHarness({ AUTH_ACCOUNT_CACHE_MS: '0' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([h?.stop(), uncached?.stop()]);
  });

  const deleteUser = async (harness: Harness, client: ApiClient) => {
    const sub = subjectOf(client.token!);
    const { deletedCount } = await harness.db.collection(COLLECTIONS.users).deleteOne({ _id: new ObjectId(sub) });
    expect(deletedCount).toBe(1);
  };

  test('when an account that was just used is deleted, then its token stops working within AUTH_ACCOUNT_CACHE_MS, and at once with 0', async () => {
    const client = await h.user('deleted-later@example.com');
    expect((await client.request('GET', '/api/generations')).status).toBe(200);
    await deleteUser(h, client);
    await sleep(CACHE_MS + 100);
    const refused = await client.request<ApiFailure>('GET', '/api/generations');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ success: false, message: 'Invalid token' });

    const eager = await uncached.user('deleted-now@example.com');
    expect((await eager.request('GET', '/api/generations')).status).toBe(200);
    await deleteUser(uncached, eager);
    expect((await eager.request('GET', '/api/generations')).status).toBe(401);
  });

  test('when AUTH_ACCOUNT_CACHE_MS is out of range, then the config names it', () => {
    for (const value of ['-1', '60001', 'soon']) {
      expect(configErrorOf({ AUTH_ACCOUNT_CACHE_MS: value }).problems).toEqual([
        expect.stringMatching(/^AUTH_ACCOUNT_CACHE_MS: /),
      ]);
    }
  });
});

describe('a password hash made at another cost', () => {
  let h: Harness;
  let raised: { stop: () => Promise<void>; client: ApiClient };

  beforeAll(async () => {
    h = await startHarness();
    // The same database, behind an API whose PASSWORD_HASH_COST is one more than the suite's.
    const cost = String(Number(h.iso.env.PASSWORD_HASH_COST) + 1);
    const api = await startTestApi(h.iso, { PASSWORD_HASH_COST: cost });
    raised = { stop: () => api.api.stop(), client: new ApiClient(api.baseUrl) };
  });

  afterAll(async () => {
    await raised?.stop();
    await h?.stop();
  });

  const storedN = async (email: string) =>
    Number((await h.db.collection<UserDocument>(COLLECTIONS.users).findOne({ email }))!.password_hash.split('$')[1]);
  const login = (client: ApiClient, password: string) =>
    client.request('POST', '/api/auth/login', { email: 'older@example.com', password });

  test('when its owner signs in after the cost changed, then the hash is made again at the new cost, and the password still works', async () => {
    await h.user('older@example.com');
    const before = await storedN('older@example.com');

    expect((await login(raised.client, 'a wrong password')).status).toBe(401);
    expect(await storedN('older@example.com')).toBe(before);

    expect((await login(raised.client, 'password123')).status).toBe(200);
    expect(await storedN('older@example.com')).toBe(before * 2);
    expect((await login(raised.client, 'password123')).status).toBe(200);
    expect((await login(h.anonymous, 'password123')).status).toBe(200);
    expect((await login(h.anonymous, 'a wrong password')).status).toBe(401);
  });
});

import jwt from 'jsonwebtoken';
import type { ApiFailure } from '@imagegen/shared';
import { JWT_SECRET, startHarness, type Harness } from './api-harness';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('JWT checks on GET /api/generations', () => {
  let h: Harness;
  let userId: string;
  let validToken: string;

  beforeAll(async () => {
    h = await startHarness();
    const user = await h.user('jwt@example.com');
    validToken = user.token!;
    userId = (jwt.decode(validToken) as { sub: string }).sub;
  });

  afterAll(async () => {
    await h?.stop();
  });

  async function statusWith(authorization?: string): Promise<{ status: number; body: ApiFailure }> {
    const reply = await h.anonymous.request<ApiFailure>(
      'GET',
      '/api/generations',
      undefined,
      authorization === undefined ? {} : { authorization },
    );
    return { status: reply.status, body: reply.body };
  }

  test('when the token is the one login issued, then it answers 200', async () => {
    expect((await statusWith(`Bearer ${validToken}`)).status).toBe(200);
  });

  test('when a token is signed here with the right secret and HS256, then it answers 200 (so the rejections below are for their stated reason)', async () => {
    const token = jwt.sign({ role: 'user' }, JWT_SECRET, { algorithm: 'HS256', subject: userId, expiresIn: 60 });
    expect((await statusWith(`Bearer ${token}`)).status).toBe(200);
  });

  test('when the Authorization header is missing, then it answers 401', async () => {
    const reply = await statusWith();
    expect(reply.status).toBe(401);
    expect(reply.body.success).toBe(false);
  });

  test('when the scheme is not Bearer, then it answers 401', async () => {
    expect((await statusWith(`Basic ${validToken}`)).status).toBe(401);
  });

  test('when the token is garbage, then it answers 401', async () => {
    expect((await statusWith('Bearer not.a.token')).status).toBe(401);
    expect((await statusWith('Bearer garbage')).status).toBe(401);
  });

  test('when the token is signed with another secret, then it answers 401', async () => {
    const token = jwt.sign({ role: 'user' }, 'y'.repeat(32), { algorithm: 'HS256', subject: userId, expiresIn: 60 });
    expect((await statusWith(`Bearer ${token}`)).status).toBe(401);
  });

  test('when the token expired, then it answers 401', async () => {
    const token = jwt.sign({ role: 'user', sub: userId, exp: nowSeconds() - 60, iat: nowSeconds() - 120 }, JWT_SECRET, {
      algorithm: 'HS256',
    });
    const reply = await statusWith(`Bearer ${token}`);
    expect(reply.status).toBe(401);
    expect(reply.body.message).toMatch(/expired/i);
  });

  test('when a token that was accepted expires, then it answers 401 from then on (a checked token is not remembered past its expiry)', async () => {
    const token = jwt.sign({ role: 'user' }, JWT_SECRET, { algorithm: 'HS256', subject: userId, expiresIn: 1 });
    const { exp } = jwt.decode(token) as { exp: number };
    expect((await statusWith(`Bearer ${token}`)).status).toBe(200);
    // Asked again just after the second it expires in.
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    const reply = await statusWith(`Bearer ${token}`);
    expect(reply.status).toBe(401);
    expect(reply.body.message).toMatch(/expired/i);
  });

  test('when the token says alg none and carries no signature, then it answers 401', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: userId, role: 'user', exp: nowSeconds() + 60 })}.`;
    expect((await statusWith(`Bearer ${token}`)).status).toBe(401);
  });

  test('when the token is HS512-signed with the right secret, then it answers 401 (the algorithm is pinned)', async () => {
    const token = jwt.sign({ role: 'user' }, JWT_SECRET, { algorithm: 'HS512', subject: userId, expiresIn: 60 });
    expect((await statusWith(`Bearer ${token}`)).status).toBe(401);
  });

  test('when the payload of a valid token was tampered with, then it answers 401', async () => {
    const [header, , signature] = validToken.split('.');
    const claims = jwt.decode(validToken) as Record<string, unknown>;
    const tampered = `${header}.${b64url({ ...claims, role: 'admin' })}.${signature}`;
    expect((await statusWith(`Bearer ${tampered}`)).status).toBe(401);
  });

  test('when a correctly signed token lacks the role claim, then it answers 401', async () => {
    const token = jwt.sign({}, JWT_SECRET, { algorithm: 'HS256', subject: userId, expiresIn: 60 });
    expect((await statusWith(`Bearer ${token}`)).status).toBe(401);
  });

  test('when a correctly signed token names a subject that is not a user id, then it answers 401 (not 500)', async () => {
    const token = jwt.sign({ role: 'user' }, JWT_SECRET, {
      algorithm: 'HS256',
      subject: 'not-an-object-id',
      expiresIn: 60,
    });
    expect((await statusWith(`Bearer ${token}`)).status).toBe(401);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiSuccess, WebhookSecretView } from '@imagegen/shared';
import { ApiClient } from '../../../test/support/api-client';
import { startHarness, startTestApi, type Harness } from './api-harness';
import {
  ADMIN_EMAIL,
  ADMIN_ENV,
  ADMIN_PASSWORD,
  GEN_QAPI,
  QAPI,
  send,
  signIn,
  signInToDashboard,
} from './admin-support';

const CACHE_MS = 400;

/**
 * A change of role is a change of privilege: every token, dashboard session and webhook secret the
 * account held before is revoked (OWASP: renew credentials when privileges change). Bearer routes
 * remember an account for AUTH_ACCOUNT_CACHE_MS, so there it takes effect within that bound; the
 * admin routes read the account on every request, so there at once.
 */
describe('revocation when an account’s role changes', () => {
  let h: Harness;
  let admin: { client: ApiClient; id: string };
  /** A second instance on the same database that reads the account on every request. */
  let uncached: { stop: () => Promise<void>; baseUrl: string };

  beforeAll(async () => {
    h = await startHarness({ ...ADMIN_ENV, AUTH_ACCOUNT_CACHE_MS: String(CACHE_MS) });
    const second = await startTestApi(h.iso, { AUTH_ACCOUNT_CACHE_MS: '0' });
    uncached = { stop: () => second.api.stop(), baseUrl: second.baseUrl };
    admin = await signIn(h, ADMIN_EMAIL, ADMIN_PASSWORD);
  });

  afterAll(async () => {
    await uncached?.stop();
    await h?.stop();
  });

  const setRole = (id: string, role: string) =>
    send(h.baseUrl, `/api/admin/users/${id}`, { method: 'PATCH', token: admin.client.token, body: { role } });

  test('when a user is made an admin, then their earlier token stops working: at once on the admin API and with no cache, within AUTH_ACCOUNT_CACHE_MS on a bearer route that had it cached', async () => {
    const user = await signIn(h, 'promoted@example.com');
    const token = user.client.token!;
    // Seen just now, so this instance remembers the account.
    expect((await send(h.baseUrl, '/api/generations', { token })).status).toBe(200);

    expect((await setRole(user.id, 'admin')).status).toBe(200);

    expect((await send(h.baseUrl, '/api/admin/queues', { token })).status).toBe(401);
    expect((await send(uncached.baseUrl, '/api/generations', { token })).status).toBe(401);
    await sleep(CACHE_MS + 100);
    const refused = await send(h.baseUrl, '/api/generations', { token });
    expect(refused.status).toBe(401);
    expect(refused.json()).toEqual({ success: false, message: 'Invalid token' });

    // Signing in again gives a token that works, with the new role.
    const again = await signIn(h, 'promoted@example.com');
    expect((await send(h.baseUrl, '/api/admin/queues', { token: again.client.token })).status).toBe(200);
    expect((await send(h.baseUrl, '/api/generations', { token: again.client.token })).status).toBe(200);
  });

  test('when the role changes, then the webhook secret is replaced and the old one is not kept as the previous one', async () => {
    const user = await signIn(h, 'secretive@example.com');
    const before = await user.client.request<ApiSuccess<WebhookSecretView>>('GET', '/api/webhooks/secret');
    expect((await setRole(user.id, 'admin')).status).toBe(200);

    const again = await signIn(h, 'secretive@example.com');
    const after = await again.client.request<ApiSuccess<WebhookSecretView>>('GET', '/api/webhooks/secret');
    expect(after.body.data.secret).not.toBe(before.body.data.secret);
    expect(after.body.data.previous_secret_expires_at).toBeNull();
  });

  test('when an admin is demoted, then their dashboard session is revoked at once', async () => {
    const deputy = await signIn(h, 'deputy@example.com');
    expect((await setRole(deputy.id, 'admin')).status).toBe(200);
    const browser = await signInToDashboard(h, 'deputy@example.com', 'password123');
    expect((await browser.send(QAPI)).status).toBe(200);

    expect((await setRole(deputy.id, 'user')).status).toBe(200);
    expect((await browser.send(QAPI)).status).toBe(401);
    expect((await browser.act('PUT', `${GEN_QAPI}/pause`)).status).toBe(401);
    expect(await h.queue.isPaused()).toBe(false);
  });

  test('when the role is set to the one the account already has, then nothing is revoked', async () => {
    const user = await signIn(h, 'unchanged@example.com');
    expect((await setRole(user.id, 'user')).status).toBe(200);
    expect((await send(uncached.baseUrl, '/api/generations', { token: user.client.token })).status).toBe(200);
  });
});

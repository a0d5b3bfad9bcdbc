import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiSuccess, AuthResult, WebhookSecretView } from '@imagegen/shared';
import { ApiClient } from '../support/api-client';
import { isolation, type Isolation } from '../support/isolation';
import { spawnApi, type SpawnedService } from '../support/services';

/** Generous: the hashes (0.7 s each on one thread) share the machine with other test files. */
const TIMEOUT_MS = 180_000;

const ADMIN = { ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'the operator chose this one' };
const CACHE_MS = 1000;
/** Every instance signs and checks tokens with the same secret, as a deployment's do. */
const SHARED = { JWT_SECRET: 'a-secret-every-instance-shares-0123456789' };

/**
 * A stranger registers the address the operator later names in ADMIN_EMAIL. Starting with it must
 * not hand the stranger an admin account: the start is refused unless ADMIN_PROMOTE_EXISTING says
 * to promote, and a promotion revokes everything the stranger held (tokens, password, webhook
 * secret), on the instance that promoted at once and on the others within AUTH_ACCOUNT_CACHE_MS.
 */
describe('ADMIN_EMAIL naming an account registered beforehand', () => {
  let env: Isolation;
  /** An instance that was running all along, with the stranger's account cached. */
  let running: SpawnedService;
  const started: SpawnedService[] = [];
  let stranger: ApiClient;
  let strangerSecret: string;

  beforeAll(async () => {
    env = isolation();
    running = await spawnApi({ ...env.env, ...SHARED, AUTH_ACCOUNT_CACHE_MS: String(CACHE_MS) });
    stranger = new ApiClient(running.url);
    await stranger.login(ADMIN.ADMIN_EMAIL, 'stranger password', 'Stranger');
    const secret = await stranger.request<ApiSuccess<WebhookSecretView>>('GET', '/api/webhooks/secret');
    strangerSecret = secret.body.data.secret;
  });

  afterAll(async () => {
    await Promise.all([running, ...started].map((api) => api?.stop()));
    await env?.cleanup();
  });

  /** `count` requests at once with the stranger's token on `api`: their statuses. */
  const strangerHits = (api: SpawnedService, paths: string[], count = 10) =>
    Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const res = await fetch(`${api.url}${paths[i % paths.length]!}`, {
          headers: { authorization: `Bearer ${stranger.token!}` },
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );

  test(
    'when the API starts with ADMIN_EMAIL naming that user and no ADMIN_PROMOTE_EXISTING, then it refuses to start, naming the setting, and the account stays a user',
    async () => {
      const outcome = await spawnApi({ ...env.env, ...SHARED, ...ADMIN }).then(
        (api) => {
          started.push(api);
          return 'started';
        },
        (err: Error) => err.message,
      );
      expect(outcome).toMatch(/ADMIN_PROMOTE_EXISTING/);

      expect(await strangerHits(running, ['/api/admin/queues'])).toEqual(Array<number>(10).fill(403));
      const again = new ApiClient(running.url);
      const relogin = await again.request<ApiSuccess<AuthResult>>('POST', '/api/auth/login', {
        email: ADMIN.ADMIN_EMAIL,
        password: 'stranger password',
      });
      expect(relogin.status).toBe(200);
      expect(relogin.body.data.user.role).toBe('user');
    },
    TIMEOUT_MS,
  );

  test(
    'when it starts with ADMIN_PROMOTE_EXISTING=true, then the operator signs in as admin and the stranger’s token, password and webhook secret open nothing: at once on that instance, within AUTH_ACCOUNT_CACHE_MS on one that had it cached',
    async () => {
      // The running instance has just seen the stranger's token, so it remembers the account.
      expect(await strangerHits(running, ['/api/generations'], 1)).toEqual([200]);

      const promoting = await spawnApi({
        ...env.env,
        ...SHARED,
        ...ADMIN,
        ADMIN_PROMOTE_EXISTING: 'true',
        AUTH_ACCOUNT_CACHE_MS: String(CACHE_MS),
      });
      started.push(promoting);

      // The stranger hammers the new instance while the operator signs in there.
      const operator = new ApiClient(promoting.url);
      const [hits, signedIn] = await Promise.all([
        strangerHits(promoting, ['/api/admin/queues', '/api/generations', '/api/webhooks/secret'], 30),
        operator.request<ApiSuccess<AuthResult>>('POST', '/api/auth/login', {
          email: ADMIN.ADMIN_EMAIL,
          password: ADMIN.ADMIN_PASSWORD,
        }),
      ]);
      expect(hits).toEqual(Array<number>(30).fill(401));
      expect(signedIn.status).toBe(200);
      expect(signedIn.body.data.user.role).toBe('admin');
      operator.token = signedIn.body.data.token;
      expect((await operator.request('GET', '/api/admin/queues')).status).toBe(200);

      const oldPassword = await new ApiClient(promoting.url).request('POST', '/api/auth/login', {
        email: ADMIN.ADMIN_EMAIL,
        password: 'stranger password',
      });
      expect(oldPassword.status).toBe(401);

      // The webhook secret the stranger read signs nothing any more, not even during an overlap.
      const secret = await operator.request<ApiSuccess<WebhookSecretView>>('GET', '/api/webhooks/secret');
      expect(secret.body.data.secret).not.toBe(strangerSecret);
      expect(secret.body.data.previous_secret_expires_at).toBeNull();

      // The instance that had the account cached lets the token go within the bound.
      await sleep(CACHE_MS + 200);
      expect(
        await strangerHits(running, ['/api/admin/queues', '/api/generations', '/api/webhooks/secret'], 30),
      ).toEqual(Array<number>(30).fill(401));
    },
    TIMEOUT_MS,
  );
});

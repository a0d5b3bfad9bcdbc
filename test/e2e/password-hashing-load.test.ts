import type { ApiFailure, Readiness } from '@imagegen/shared';
import { isolation, type Isolation } from '../support/isolation';
import { Scrape } from '../support/prometheus';
import { spawnApi, type SpawnedService } from '../support/services';

/** Generous: the hashes (0.7 s each on one thread) share the machine with other test files. */
const TIMEOUT_MS = 180_000;

const RUNNING = 2;
const WAITING = 4;
const REGISTER_PER_IP = 5;
const STORM = 40;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: unknown;
}

async function post(api: SpawnedService, path: string, ip: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

const register = (api: SpawnedService, ip: string, i: number) =>
  post(api, '/api/auth/register', ip, { email: `storm-${ip}-${i}@example.com`, password: 'password123', name: 'S' });

async function readiness(api: SpawnedService): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${api.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

const statuses = (answers: Answer[]) => answers.map((a) => a.status).sort();

/**
 * Unauthenticated requests that cost a password hash (scrypt: 128 MiB and ~0.7 s of a libuv
 * thread each): registers, auto-registering logins, sign-ins. A bounded queue holds them; past it
 * they are refused at once with 503 and Retry-After, and /readyz says so, and each address may
 * only register so many accounts per window.
 */
describe('password hashing under a storm of registrations', () => {
  let env: Isolation;
  let api: SpawnedService;

  beforeAll(async () => {
    env = isolation();
    api = await spawnApi({
      ...env.env,
      // The production cost: the queue's bounds are about hashes that take this long.
      PASSWORD_HASH_COST: '17',
      TRUST_PROXY: '1',
      PASSWORD_HASH_CONCURRENCY: String(RUNNING),
      PASSWORD_HASH_QUEUE: String(WAITING),
      REGISTER_PER_IP: String(REGISTER_PER_IP),
      REGISTER_WINDOW: '1h',
    });
    const owner = await post(api, '/api/auth/register', '192.0.2.1', {
      email: 'owner@example.com',
      password: 'owner password',
      name: 'Owner',
    });
    expect(owner.status).toBe(201);
  });

  afterAll(async () => {
    await api?.stop();
    await env?.cleanup();
  });

  test(
    'when 40 registrations from 40 addresses come at once, then those past the queue get 503 with Retry-After at once, /readyz says the hashing is saturated meanwhile, and no more hashes ran or waited than the bounds',
    async () => {
      const readyDuringStorm: Array<Promise<{ status: number; body: Readiness }>> = [];
      // Another user signs in during the storm: served, or refused at once, never queued without bound.
      let ownerLogin: Promise<Answer> | undefined;
      const answers = await Promise.all(
        Array.from({ length: STORM }, (_, i) =>
          register(api, `198.51.100.${i + 1}`, i).then((answer) => {
            // Asked as each refusal arrives: the queue was full a moment ago.
            if (answer.status === 503) {
              readyDuringStorm.push(readiness(api));
              ownerLogin ??= post(api, '/api/auth/login', '192.0.2.1', {
                email: 'owner@example.com',
                password: 'owner password',
              });
            }
            return answer;
          }),
        ),
      );

      const refused = answers.filter((a) => a.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      expect(answers.filter((a) => a.status !== 503).every((a) => a.status === 201)).toBe(true);
      for (const answer of refused) {
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
        expect(answer.body).toMatchObject({ success: false, message: expect.stringMatching(/retry/i) });
      }

      const saturated = (await Promise.all(readyDuringStorm)).find((r) => r.status === 503);
      expect(saturated?.body).toMatchObject({ success: false, data: { password_hashing: 'saturated' } });

      const owner = await ownerLogin!;
      expect([200, 503]).toContain(owner.status);
      if (owner.status === 503) expect(owner.retryAfter).not.toBeNull();

      const scrape = await Scrape.of(`${api.url}/metrics`);
      expect(scrape.value('imagegen_password_hashes_running_max')).toBeLessThanOrEqual(RUNNING);
      expect(scrape.value('imagegen_password_hashes_waiting_max')).toBeLessThanOrEqual(WAITING);
      expect(scrape.value('imagegen_password_hashes_refused_total')).toBeGreaterThanOrEqual(refused.length);

      // Once the storm has passed, the instance is ready again.
      const after = await readiness(api);
      expect(after.status).toBe(200);
      expect(after.body.data).toMatchObject({ mongodb: 'ok', redis: 'ok', password_hashing: 'ok' });
    },
    TIMEOUT_MS,
  );

  test(
    'when one address registers 40 accounts at once, then only REGISTER_PER_IP are hashed and the rest get 429 with Retry-After, auto-registering logins included',
    async () => {
      const ip = '203.0.113.50';
      const answers = await Promise.all(Array.from({ length: STORM }, (_, i) => register(api, ip, i)));
      expect(statuses(answers)).toEqual([
        ...Array<number>(REGISTER_PER_IP).fill(201),
        ...Array<number>(STORM - REGISTER_PER_IP).fill(429),
      ]);
      for (const answer of answers.filter((a) => a.status === 429)) {
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      }

      // The seed's login with a name registers an unknown email: the same limit.
      const auto = await post(api, '/api/auth/login', ip, {
        email: 'auto-registered@example.com',
        password: 'password123',
        name: 'Auto',
      });
      expect(auto.status).toBe(429);
      expect((auto.body as ApiFailure).success).toBe(false);
      // Another address is not held back by this one.
      expect((await register(api, '203.0.113.51', 0)).status).toBe(201);
    },
    TIMEOUT_MS,
  );
});

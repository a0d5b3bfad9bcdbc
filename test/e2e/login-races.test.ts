import { isolation, type Isolation } from '../support/isolation';
import { spawnApi, type SpawnedService } from '../support/services';

/** Generous: the hashes (0.7 s each on one thread) share the machine with other test files. */
const TIMEOUT_MS = 180_000;

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' };
const PER_ACCOUNT = 10;
const PER_IP = 20;
const RACERS = 60;

/** One sign-in attempt as a client at `ip` (through the one proxy TRUST_PROXY=1 believes). */
async function login(api: SpawnedService, ip: string, email: string, password: string): Promise<Response> {
  const res = await fetch(`${api.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ email, password }),
  });
  await res.arrayBuffer();
  return res;
}

/** How many answers had each status, e.g. `{ 401: 10, 429: 50 }`. */
function tally(answers: Response[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/**
 * Concurrent guesses on the spawned API: every guess takes its place in the count before its
 * password is checked, so a window lets exactly the limit of passwords be checked however many
 * guesses come at once (the count is in Redis, so this holds across API instances too).
 */
describe('concurrent sign-in guesses against the limits', () => {
  let env: Isolation;
  let api: SpawnedService;

  beforeAll(async () => {
    env = isolation();
    api = await spawnApi({
      ...env.env,
      // The production cost: each guess's hash then lasts long enough for every racer to be in
      // flight while the first are checked, as a real storm of guesses is.
      PASSWORD_HASH_COST: '17',
      ...{ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password },
      TRUST_PROXY: '1',
      LOGIN_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT),
      LOGIN_FAILURES_PER_IP: String(PER_IP),
      LOGIN_FAILURE_WINDOW: '1h',
      // Room for every racer in the hashing queue, so only the sign-in limits refuse here.
      PASSWORD_HASH_QUEUE: String(RACERS),
    });
    const registered = await fetch(`${api.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '192.0.2.1' },
      body: JSON.stringify({ email: 'victim@example.com', password: 'the right password', name: 'Victim' }),
    });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    await api?.stop();
    await env?.cleanup();
  });

  test(
    'when 60 guesses at one account come at once, the right one 45th, then exactly the per-account limit of passwords is checked and the rest answer 429',
    async () => {
      const answers = await Promise.all(
        Array.from({ length: RACERS }, (_, i) =>
          login(api, '203.0.113.10', 'victim@example.com', i === 44 ? 'the right password' : `guess ${i}`),
        ),
      );
      const counts = tally(answers);
      // A checked password answers 401 (wrong) or 200 (right); a refused one 429, before any check.
      expect({ checked: (counts[401] ?? 0) + (counts[200] ?? 0), refused: counts[429] }).toEqual({
        checked: PER_ACCOUNT,
        refused: RACERS - PER_ACCOUNT,
      });
      expect(answers[44]!.status).toBe(429);
      for (const answer of answers.filter((a) => a.status === 429)) {
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    },
    TIMEOUT_MS,
  );

  test(
    'when 60 guesses at 60 accounts come at once from one address (a spray), then exactly the per-IP limit of passwords is checked',
    async () => {
      const answers = await Promise.all(
        Array.from({ length: RACERS }, (_, i) => login(api, '203.0.113.20', `spray-${i}@example.com`, 'Winter2026!')),
      );
      expect(tally(answers)).toEqual({ 401: PER_IP, 429: RACERS - PER_IP });
    },
    TIMEOUT_MS,
  );

  test(
    'when 60 guesses at the admin come at once through the dashboard form, then exactly the per-account limit of passwords is checked',
    async () => {
      const form = await fetch(`${api.url}/admin/login`, { headers: { 'x-forwarded-for': '203.0.113.30' } });
      const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
      const cookie = form.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const answers = await Promise.all(
        Array.from({ length: RACERS }, async (_, i) => {
          const res = await fetch(`${api.url}/admin/login`, {
            method: 'POST',
            redirect: 'manual',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'x-forwarded-for': '203.0.113.30',
              cookie,
            },
            body: new URLSearchParams({ email: ADMIN.email, password: `guess ${i}`, csrf }).toString(),
          });
          await res.arrayBuffer();
          return res;
        }),
      );
      expect(tally(answers)).toEqual({ 401: PER_ACCOUNT, 429: RACERS - PER_ACCOUNT });
    },
    TIMEOUT_MS,
  );
});

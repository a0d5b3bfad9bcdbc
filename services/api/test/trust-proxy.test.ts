import { Writable } from 'node:stream';
import pino from 'pino';
import type { ApiFailure } from '@imagegen/shared';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { loadApiConfig } from '../src/config';
import { startApi } from '../src/server';
import { apiEnv, startHarness, type Harness } from './api-harness';
import { configErrorOf } from './config-error';

const PER_IP = 3;
const THROTTLE = {
  LOGIN_FAILURES_PER_IP: String(PER_IP),
  LOGIN_FAILURES_PER_ACCOUNT: '1000',
  LOGIN_FAILURE_WINDOW: '1h',
};
/** The address the proxy in front appends for the one client of these tests. */
const CLIENT = '203.0.113.7';

let forged = 0;
/**
 * A failed sign-in for a fresh email, with an X-Forwarded-For the client made up (a new address each
 * time, the attack) followed by the address a proxy in front would append: the client's own.
 */
function failedSignIn(h: Harness): Promise<{ status: number }> {
  forged++;
  return h.anonymous.request<ApiFailure>(
    'POST',
    '/api/auth/login',
    { email: `spray-${forged}@example.com`, password: 'wrong password' },
    { 'x-forwarded-for': `198.51.100.${forged % 250}, ${CLIENT}` },
  );
}

/**
 * Resolves once /readyz answers 200, as a load balancer waits: the API listens before its Redis
 * connection is up, and until then the sign-in counts answer 503.
 */
async function ready(h: Harness): Promise<void> {
  for (let tries = 0; (await fetch(`${h.baseUrl}/readyz`)).status !== 200; tries++) {
    if (tries > 100) throw new Error('the API never got ready');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Statuses of as many failed sign-ins as the per-IP limit allows, and one more. */
async function sprayPastTheLimit(h: Harness): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i <= PER_IP; i++) statuses.push((await failedSignIn(h)).status);
  return statuses;
}

describe('TRUST_PROXY: which X-Forwarded-For to believe', () => {
  test('when TRUST_PROXY=true in production, then the API refuses to start, naming the setting and what to set instead', () => {
    const err = configErrorOf({
      NODE_ENV: 'production',
      JWT_SECRET: 'x'.repeat(32),
      TRUST_PROXY: 'true',
    });
    expect(err.problems).toEqual([expect.stringMatching(/^TRUST_PROXY: .*hop count/)]);
  });

  test('when TRUST_PROXY is a hop count or a list of proxies, then it is taken as one', () => {
    const env = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
    expect(loadApiConfig({ ...env, TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadApiConfig({ ...env, TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8' }).TRUST_PROXY).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
    ]);
    expect(loadApiConfig({ ...env, TRUST_PROXY: '192.168.0.0/255.255.0.0' }).TRUST_PROXY).toEqual([
      '192.168.0.0/255.255.0.0',
    ]);
    expect(loadApiConfig(env).TRUST_PROXY).toBe(false);
  });

  test('when TRUST_PROXY lists something that is not an address, a subnet or a named range, then the config names it', () => {
    for (const value of ['proxy.internal', '10.0.0.0/33', 'loopback, 10.0.0.300', 'yes']) {
      const err = configErrorOf({ TRUST_PROXY: value });
      expect({ value, problems: err.problems }).toEqual({
        value,
        problems: [expect.stringMatching(/^TRUST_PROXY: /)],
      });
    }
  });

  test('when TRUST_PROXY=true outside production, then the API starts and warns that clients can pick their address', async () => {
    const iso: Isolation = isolation();
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const api = await startApi(loadApiConfig(apiEnv(iso, { TRUST_PROXY: 'true' })), pino({ level: 'warn' }, stream));
    try {
      const warnings = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(warnings).toContainEqual(
        expect.objectContaining({ level: 40, msg: expect.stringMatching(/^TRUST_PROXY is true/) }),
      );
    } finally {
      await api.stop();
      await iso.cleanup();
    }
  });
});

describe.each([
  ['a hop count', '1'],
  ['the proxy addresses', 'loopback'],
])('TRUST_PROXY as %s (%s): a client rotating X-Forwarded-For', (_what, value) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ ...THROTTLE, TRUST_PROXY: value });
    await ready(h);
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('when every failed sign-in claims another address, then they are counted against the one the proxy saw, and the per-IP limit holds', async () => {
    expect(await sprayPastTheLimit(h)).toEqual([...Array(PER_IP).fill(401), 429]);
  });
});

describe('TRUST_PROXY=true (warned about; refused in production)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ ...THROTTLE, TRUST_PROXY: 'true' });
    await ready(h);
  });

  afterAll(async () => {
    await h?.stop();
  });

  // Why production refuses it: every made-up address counts apart, so the per-IP limit never bites.
  test('when every failed sign-in claims another address, then each counts apart and the per-IP limit never bites', async () => {
    expect(await sprayPastTheLimit(h)).toEqual(Array(PER_IP + 1).fill(401));
  });
});

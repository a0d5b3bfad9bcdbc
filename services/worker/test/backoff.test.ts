import { retryDelay, type BackoffPolicy } from '../src/hf/backoff';
import { parseRetryAfter } from '../src/retry-after';

const policy: BackoffPolicy = { baseMs: 1_000, maxDelayMs: 60_000 };
const fixed = (value: number) => () => value;

describe('retryDelay', () => {
  describe('cold start with estimated_time', () => {
    test('when the jitter is neutral, then it waits exactly estimated_time', () => {
      expect(retryDelay(policy, { kind: 'cold-start', hintMs: 20_000 }, 0, fixed(0.5))).toBe(20_000);
    });

    test('when the jitter is at its ends, then it waits 10 % less or 10 % more than estimated_time', () => {
      expect(retryDelay(policy, { kind: 'cold-start', hintMs: 20_000 }, 0, fixed(0))).toBe(18_000);
      expect(retryDelay(policy, { kind: 'cold-start', hintMs: 20_000 }, 0, fixed(1))).toBe(22_000);
    });

    test('when the retry number grows, then the wait still follows estimated_time, not an exponential', () => {
      expect(retryDelay(policy, { kind: 'cold-start', hintMs: 5_000 }, 5, fixed(0.5))).toBe(5_000);
    });

    test('when estimated_time exceeds maxDelayMs (1800 s seen for large models), then the wait is capped', () => {
      for (const random of [0, 0.5, 1]) {
        expect(retryDelay(policy, { kind: 'cold-start', hintMs: 1_800_000 }, 0, fixed(random))).toBe(60_000);
      }
    });

    test('when estimated_time is shorter than baseMs, then it never waits less than baseMs', () => {
      for (const random of [0, 0.5, 1]) {
        const delay = retryDelay(policy, { kind: 'cold-start', hintMs: 50 }, 0, fixed(random));
        expect(delay).toBeGreaterThanOrEqual(1_000);
        expect(delay).toBeLessThanOrEqual(1_100);
      }
      expect(retryDelay(policy, { kind: 'cold-start', hintMs: 0 }, 0, fixed(0))).toBe(1_000);
    });
  });

  describe('rate limited with Retry-After', () => {
    test('when the jitter is at its ends, then it waits between what was asked and 10 % more', () => {
      expect(retryDelay(policy, { kind: 'rate-limited', hintMs: 5_000 }, 0, fixed(0))).toBe(5_000);
      expect(retryDelay(policy, { kind: 'rate-limited', hintMs: 5_000 }, 0, fixed(0.5))).toBe(5_250);
      expect(retryDelay(policy, { kind: 'rate-limited', hintMs: 5_000 }, 0, fixed(1))).toBe(5_500);
    });

    test('when Retry-After asks for more than maxDelayMs, then the wait is capped', () => {
      expect(retryDelay(policy, { kind: 'rate-limited', hintMs: 3_600_000 }, 0, fixed(0))).toBe(60_000);
    });

    test('when Retry-After is given on a late retry, then it is honoured rather than the exponential', () => {
      expect(retryDelay(policy, { kind: 'rate-limited', hintMs: 2_000 }, 4, fixed(0))).toBe(2_000);
    });
  });

  describe('exponential with equal jitter', () => {
    test.each(['server-error', 'network'] as const)(
      'when a %s is retried, then the wait is between half and all of base·2^retry',
      (kind) => {
        expect(retryDelay(policy, { kind }, 0, fixed(0))).toBe(500);
        expect(retryDelay(policy, { kind }, 0, fixed(0.5))).toBe(750);
        expect(retryDelay(policy, { kind }, 0, fixed(1))).toBe(1_000);
        expect(retryDelay(policy, { kind }, 3, fixed(0))).toBe(4_000);
        expect(retryDelay(policy, { kind }, 3, fixed(0.5))).toBe(6_000);
        expect(retryDelay(policy, { kind }, 3, fixed(1))).toBe(8_000);
      },
    );

    test('when base·2^retry exceeds maxDelayMs, then the wait is between half and all of maxDelayMs', () => {
      expect(retryDelay(policy, { kind: 'server-error' }, 10, fixed(0))).toBe(30_000);
      expect(retryDelay(policy, { kind: 'server-error' }, 10, fixed(1))).toBe(60_000);
      expect(retryDelay(policy, { kind: 'network' }, 2_000, fixed(0.5))).toBe(45_000);
    });

    test('when a 503 or 429 carries no hint, then it backs off exponentially too', () => {
      expect(retryDelay(policy, { kind: 'cold-start' }, 2, fixed(0))).toBe(2_000);
      expect(retryDelay(policy, { kind: 'rate-limited' }, 2, fixed(1))).toBe(4_000);
    });

    test('when no random is injected, then every wait stays within its bounds', () => {
      for (let i = 0; i < 200; i++) {
        const delay = retryDelay(policy, { kind: 'server-error' }, 1);
        expect(delay).toBeGreaterThanOrEqual(1_000);
        expect(delay).toBeLessThanOrEqual(2_000);
      }
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  test('when it is delta-seconds, then it is that many ms', () => {
    expect(parseRetryAfter('1', now)).toBe(1_000);
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  test('when it is an HTTP date, then it is the ms until that date', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
  });

  test('when it is an HTTP date in the past, then it is 0', () => {
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
  });

  test.each(['soon', 'abc', '1e3', '-5', 'foo 1', '12abc'])(
    'when it is garbage (%j), then it is undefined',
    (value) => {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    },
  );

  test('when it is absent or empty, then it is undefined', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
  });
});

import { nextRetryDelay } from '../src/webhooks/retry-schedule';

const SCHEDULE = [5_000, 300_000, 1_800_000];
const LONGEST = 1_800_000;
const lowest = () => 0;
const highest = () => 1;
const middle = () => 0.5;

describe('nextRetryDelay', () => {
  test.each([
    [1, 5_000],
    [2, 300_000],
    [3, 1_800_000],
  ])(
    'when %d attempts have failed and jitter is neutral, then the wait is the schedule entry %d ms',
    (failures, ms) => {
      expect(nextRetryDelay(SCHEDULE, failures, undefined, middle)).toBe(ms);
    },
  );

  test('when random gives 0 or 1, then the wait is 10 % below or above the entry, the bounds of the jitter', () => {
    expect(nextRetryDelay(SCHEDULE, 1, undefined, lowest)).toBe(4_500);
    expect(nextRetryDelay(SCHEDULE, 1, undefined, highest)).toBe(5_500);
    expect(nextRetryDelay(SCHEDULE, 2, undefined, lowest)).toBe(270_000);
    expect(nextRetryDelay(SCHEDULE, 2, undefined, highest)).toBe(330_000);
  });

  test('when random is left to Math.random, then every wait stays within ±10 % of the entry', () => {
    const waits = Array.from({ length: 200 }, () => nextRetryDelay(SCHEDULE, 2, undefined));
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(270_000);
      expect(wait).toBeLessThanOrEqual(330_000);
    }
    // Jitter spreads the retries of receivers that failed together.
    expect(new Set(waits).size).toBeGreaterThan(1);
  });

  test('when the schedule is spent, then there is no next attempt (null)', () => {
    expect(nextRetryDelay(SCHEDULE, 4, undefined, middle)).toBeNull();
    expect(nextRetryDelay(SCHEDULE, 4, 1_000, middle)).toBeNull();
    expect(nextRetryDelay([], 1, undefined, middle)).toBeNull();
  });

  test('when Retry-After asks for longer than the schedule, then the wait is the Retry-After', () => {
    expect(nextRetryDelay(SCHEDULE, 1, 60_000, highest)).toBe(60_000);
    expect(nextRetryDelay(SCHEDULE, 1, 7_000, middle)).toBe(7_000);
  });

  test('when Retry-After asks for more than the longest delay of the schedule, then the wait is capped at that delay', () => {
    expect(nextRetryDelay(SCHEDULE, 1, 86_400_000, middle)).toBe(LONGEST);
    expect(nextRetryDelay(SCHEDULE, 2, Number.MAX_SAFE_INTEGER, lowest)).toBe(LONGEST);
  });

  test('when Retry-After asks for less than the scheduled wait, then it never shortens it', () => {
    expect(nextRetryDelay(SCHEDULE, 2, 1_000, lowest)).toBe(270_000);
    expect(nextRetryDelay(SCHEDULE, 2, 0, middle)).toBe(300_000);
  });

  test('when the last entry is jittered above the cap and Retry-After is larger still, then the jittered wait stands', () => {
    expect(nextRetryDelay(SCHEDULE, 3, 10 * LONGEST, highest)).toBe(1_980_000);
  });
});

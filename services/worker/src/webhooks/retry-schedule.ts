/** ±10 %: receivers that failed together (an outage) are not all called again in the same second. */
const JITTER = 0.1;

/**
 * The wait before the next attempt after `failures` failed ones (1-based), or null when the schedule
 * is spent. A `Retry-After` from the receiver lengthens the wait, up to the schedule's longest delay.
 */
export function nextRetryDelay(
  schedule: number[],
  failures: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number | null {
  const base = schedule[failures - 1];
  if (base === undefined) return null;
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, Math.max(...schedule)));
}

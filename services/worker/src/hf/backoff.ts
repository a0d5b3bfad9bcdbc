/** Why the last attempt should be retried, and any wait Hugging Face asked for. */
export interface RetryReason {
  kind: 'cold-start' | 'rate-limited' | 'server-error' | 'network';
  /** `estimated_time` of a 503 or `Retry-After` of a 429, in ms. */
  hintMs?: number;
}

export interface BackoffPolicy {
  baseMs: number;
  maxDelayMs: number;
}

/**
 * The wait before retry number `retry` (0-based).
 * - A cold start waits about `estimated_time` (±10 % jitter, so queued jobs do not stampede).
 * - A rate limit with `Retry-After` waits at least that long (0–10 % more, never less).
 * - Everything else backs off exponentially with equal jitter: between half and all of base·2^retry.
 * Every wait is capped at `maxDelayMs`.
 */
export function retryDelay(
  policy: BackoffPolicy,
  reason: RetryReason,
  retry: number,
  random: () => number = Math.random,
): number {
  const { baseMs, maxDelayMs } = policy;
  let delay: number;
  if (reason.hintMs !== undefined && reason.kind === 'cold-start') {
    delay = Math.max(baseMs, reason.hintMs * (0.9 + 0.2 * random()));
  } else if (reason.hintMs !== undefined && reason.kind === 'rate-limited') {
    delay = reason.hintMs * (1 + 0.1 * random());
  } else {
    const ceiling = Math.min(maxDelayMs, baseMs * 2 ** retry);
    delay = ceiling / 2 + (ceiling / 2) * random();
  }
  return Math.round(Math.min(maxDelayMs, delay));
}

/** A duration for messages: `0.3 s`, `18 s`. */
export function seconds(ms: number): string {
  return ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${Math.round(ms / 1000)} s`;
}

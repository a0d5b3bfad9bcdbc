import type { QuotaPeriod } from '@imagegen/core';
import { RateLimitedError } from '../errors';

const WORDS = {
  day: { name: 'Daily', span: 'today' },
  month: { name: 'Monthly', span: 'this month' },
} as const;

/**
 * The 429 of a create or retry past a quota: which quota, its limit, what is used, and when it
 * resets (the end of the UTC day or month, also as Retry-After).
 */
export function quotaRefusal(period: QuotaPeriod, used: number, limit: number, asked: number): RateLimitedError {
  const { name, span } = WORDS[period.kind];
  const resets = period.end.toISOString();
  return new RateLimitedError(
    `${name} image quota reached: ${used} of ${limit} images used ${span} (UTC), and this asks for ${asked}; ` +
      `the quota resets at ${resets}`,
    Math.max(1, Math.ceil((period.end.getTime() - Date.now()) / 1000)),
  );
}

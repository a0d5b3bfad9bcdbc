import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+)(ms|s|m|h|d)$/;

/** `"90s"`, `"5m"`, `"2h"` … in milliseconds, or null when the text is not such a duration. */
export function parseDuration(text: string): number | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** A comma-separated list of positive durations, e.g. `5s,5m,30m,2h`, as milliseconds. */
export const DurationList = z.string().transform((text, ctx) => {
  const parts = text.split(',').map((part) => part.trim());
  const delays = parts.map(parseDuration);
  const bad = parts.filter((_, i) => !delays[i]);
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `"${bad.join('", "')}" is not a positive duration such as 500ms, 5s, 5m, 2h or 1d`,
    });
    return z.NEVER;
  }
  return delays as number[];
});

/** One positive duration such as `90s` or `1m`, as milliseconds. */
export const Duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (!ms) {
    ctx.addIssue({ code: 'custom', message: 'must be a positive duration such as 500ms, 5s, 5m, 2h or 1d' });
    return z.NEVER;
  }
  return ms;
});

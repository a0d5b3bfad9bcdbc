import { z } from 'zod';
import { PublicUser } from './auth';
import { ServingProvider } from './providers';
import { UserQuota } from './user-quota';

/** The longest span `GET /api/usage` and `GET /api/admin/usage` answer for, in days (both ends counted). */
export const MAX_USAGE_DAYS = 366;

const DAY_MS = 86_400_000;

/** True for a real UTC date written `YYYY-MM-DD`. */
const isDay = (day: string): boolean => {
  const at = Date.parse(`${day}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(day) && !Number.isNaN(at) && new Date(at).toISOString().startsWith(day);
};

/** A UTC date, `YYYY-MM-DD`. */
export const UsageDay = z.string().refine(isDay, 'must be a date, YYYY-MM-DD');

/** The days a usage query covers once its defaults are filled in: `from` to `to`, both included. */
export interface UsageRange {
  from: string;
  to: string;
}

/**
 * `to` defaults to the last day of the current UTC month, `from` to the first day of `to`'s month:
 * neither given, the current month.
 */
export function usageRange(query: Partial<UsageRange>, now = new Date()): UsageRange {
  const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0));
  const to = query.to ?? monthEnd.toISOString().slice(0, 10);
  return { from: query.from ?? `${to.slice(0, 7)}-01`, to };
}

/** Days from `from` to `to`, both counted. */
export const daysIn = ({ from, to }: UsageRange): number =>
  (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;

/** Query of `GET /api/usage` and `GET /api/admin/usage`: UTC dates, both included (see `usageRange`). */
export const UsageQuery = z
  .strictObject({ from: UsageDay.optional(), to: UsageDay.optional() })
  .superRefine((query, ctx) => {
    // Only the range of two good dates is checked: a bad one is refused for itself alone.
    if (![query.from, query.to].every((day) => day === undefined || isDay(day))) return;
    const range = usageRange(query);
    if (range.from > range.to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be after to (${range.to})` });
    } else if (daysIn(range) > MAX_USAGE_DAYS) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `must be at most ${MAX_USAGE_DAYS} days from from` });
    }
  });
export type UsageQuery = z.infer<typeof UsageQuery>;

/** Runs, by how they ended. */
export const RunOutcomes = z.object({ completed: z.int(), failed: z.int(), canceled: z.int() });
export type RunOutcomes = z.infer<typeof RunOutcomes>;

/** What runs spent: the images they stored (a failed run stores none), the runs, the time at the provider. */
export const UsageTotals = z.object({
  images: z.int(),
  runs: RunOutcomes,
  /** Time spent waiting on providers, in ms. */
  provider_ms: z.int(),
});
export type UsageTotals = z.infer<typeof UsageTotals>;

/** Totals of the runs that ended in a range, from the usage records, as a whole and broken down. */
const UsageBreakdown = z.object({
  from: z.string(),
  to: z.string(),
  totals: UsageTotals,
  /** The UTC days on which runs ended, oldest first; days with none are left out. */
  by_day: z.array(UsageTotals.extend({ day: z.string() })),
  by_model: z.array(UsageTotals.extend({ model: z.string() })),
  /** `provider` null: runs that reached no provider. */
  by_provider: z.array(UsageTotals.extend({ provider: ServingProvider.nullable() })),
});

/** One period's image quota: `limit` and `remaining` null when there is none. */
export const QuotaPeriodState = z.object({
  limit: z.int().nullable(),
  /** Images charged in the period: those of runs that completed or are still running. */
  used: z.int(),
  remaining: z.int().nullable(),
  /** When the period ends (UTC midnight) and `used` starts again from 0. */
  resets_at: z.iso.datetime(),
});
export type QuotaPeriodState = z.infer<typeof QuotaPeriodState>;

/** The caller's image quotas, per UTC day and per UTC month. */
export const QuotaState = z.object({ day: QuotaPeriodState, month: QuotaPeriodState });
export type QuotaState = z.infer<typeof QuotaState>;

/** `GET /api/usage`: the caller's totals, and their quotas now. */
export const UsageReport = UsageBreakdown.extend({ quota: QuotaState });
export type UsageReport = z.infer<typeof UsageReport>;

/** A user among the most images in a range (`email` null once the account is deleted). */
export const TopUser = z.object({ user_id: z.string(), email: z.string().nullable(), images: z.int() });
export type TopUser = z.infer<typeof TopUser>;

/** `GET /api/admin/usage`: everyone's totals, and the ten users with the most images. */
export const AdminUsageReport = UsageBreakdown.extend({ top_users: z.array(TopUser) });
export type AdminUsageReport = z.infer<typeof AdminUsageReport>;

/** A user as the admin API shows one: with their quota overrides. */
export const AdminUser = PublicUser.extend({ quota: UserQuota });
export type AdminUser = z.infer<typeof AdminUser>;

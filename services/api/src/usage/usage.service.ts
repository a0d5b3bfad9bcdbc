import { ObjectId } from 'mongodb';
import {
  usageRange,
  type AdminUsageReport,
  type QuotaPeriodState,
  type QuotaState,
  type UsageQuery,
  type UsageReport,
  type UsageTotals,
  type UserQuota,
} from '@imagegen/shared';
import type { QuotaLedger, QuotaPeriod } from '@imagegen/core';
import type { UserRepository } from '../users/user.repository';
import type { QuotaGate } from './quota-gate';
import type { UsageRepository, UsageRow, UsageScope } from './usage.repository';

/** Users listed in `top_users`. */
const TOP_USERS = 10;

const DAY_MS = 86_400_000;

type Breakdown = Omit<UsageReport, 'quota'>;

/** `GET /api/usage` and `GET /api/admin/usage`: totals of the usage records, and the caller's quotas. */
export class UsageService {
  constructor(
    private readonly usage: UsageRepository,
    private readonly users: Pick<UserRepository, 'emailsOf'>,
    private readonly quotas: QuotaGate,
    private readonly ledger: QuotaLedger,
  ) {}

  /** The user's own totals in the query's range, and their quotas now. */
  async own(userId: string, query: UsageQuery): Promise<UsageReport> {
    const owner = new ObjectId(userId);
    const [breakdown, quota] = await Promise.all([this.breakdown(scopeOf(query, owner)), this.quotaState(owner)]);
    return { ...breakdown, quota };
  }

  /** Everyone's totals in the query's range, and the users with the most images. */
  async everyone(query: UsageQuery): Promise<AdminUsageReport> {
    const scoped = scopeOf(query);
    const [breakdown, top] = await Promise.all([this.breakdown(scoped), this.usage.topUsers(scoped.scope, TOP_USERS)]);
    const emails = await this.users.emailsOf(top.map((user) => user._id));
    const top_users = top.map(({ _id, total }) => ({
      user_id: _id.toHexString(),
      email: emails.get(_id.toHexString()) ?? null,
      images: total,
    }));
    return { ...breakdown, top_users };
  }

  /**
   * Takes a user's new quota overrides at once on every API instance, once their record has them
   * (`PATCH /api/admin/users/:id`): the counting in Redis keeps a copy of them for the day.
   */
  async overridesChanged(userId: string, quota: UserQuota): Promise<void> {
    await this.ledger.setOverrides(new ObjectId(userId), { day: quota.images_per_day, month: quota.images_per_month });
  }

  /**
   * The user's image quotas now: both periods counted (rebuilt from the records if need be), so
   * that `used` is right even where there is no limit.
   */
  async quotaState(userId: ObjectId): Promise<QuotaState> {
    const { answer, block } = await this.quotas.run(userId, (quota) => this.ledger.state(quota), { all: true });
    const [, dayLimit, dayUsed, monthLimit, monthUsed] = answer;
    return {
      day: periodState(block.periods.day, dayLimit, dayUsed),
      month: periodState(block.periods.month, monthLimit, monthUsed),
    };
  }

  private async breakdown({ scope, ...range }: Scoped): Promise<Breakdown> {
    const rows = await this.usage.rows(scope);
    return {
      ...range,
      totals: totalOf(rows),
      by_day: groups(rows, 'day').map(([day, totals]) => ({ day, ...totals })),
      by_model: groups(rows, 'model').map(([model, totals]) => ({ model, ...totals })),
      by_provider: groups(rows, 'provider').map(([provider, totals]) => ({ provider, ...totals })),
    };
  }
}

/** The query's days, and the records' `at` range they cover. */
interface Scoped {
  from: string;
  to: string;
  scope: UsageScope;
}

function scopeOf(query: UsageQuery, userId?: ObjectId): Scoped {
  const { from, to } = usageRange(query);
  const since = new Date(`${from}T00:00:00Z`);
  const until = new Date(Date.parse(`${to}T00:00:00Z`) + DAY_MS);
  return { from, to, scope: { since, until, ...(userId && { userId }) } };
}

function periodState(period: QuotaPeriod, limit: number, used: number): QuotaPeriodState {
  const bounded = limit >= 0;
  return {
    limit: bounded ? limit : null,
    used,
    remaining: bounded ? Math.max(0, limit - used) : null,
    resets_at: period.end.toISOString(),
  };
}

function totalOf(rows: UsageRow[]): UsageTotals {
  const totals: UsageTotals = { images: 0, runs: { completed: 0, failed: 0, canceled: 0 }, provider_ms: 0 };
  for (const row of rows) {
    totals.images += row.images;
    totals.runs[row.outcome] += row.runs;
    totals.provider_ms += row.provider_ms;
  }
  return totals;
}

/** The rows' totals per value of `field`, in its order (nulls last). */
function groups<F extends 'day' | 'model' | 'provider'>(rows: UsageRow[], field: F): Array<[UsageRow[F], UsageTotals]> {
  const by = new Map<UsageRow[F], UsageRow[]>();
  for (const row of rows) by.set(row[field], [...(by.get(row[field]) ?? []), row]);
  return [...by.entries()]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : String(a).localeCompare(String(b))))
    .map(([value, of]) => [value, totalOf(of)]);
}

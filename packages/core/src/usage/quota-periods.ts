/** What an image quota counts over: a UTC calendar day or month. */
export type QuotaPeriodKind = 'day' | 'month';

/** One day or month, in UTC: `[start, end)`. */
export interface QuotaPeriod {
  kind: QuotaPeriodKind;
  /** `2025-06-01` for a day, `2025-06` for a month: part of its Redis key. */
  id: string;
  start: Date;
  end: Date;
}

/** `YYYY-MM-DD` of `at`, in UTC. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** The day or month that holds `at`. */
export function periodOf(kind: QuotaPeriodKind, at: Date): QuotaPeriod {
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  if (kind === 'month') {
    const start = new Date(Date.UTC(year, month, 1));
    return { kind, id: utcDay(start).slice(0, 7), start, end: new Date(Date.UTC(year, month + 1, 1)) };
  }
  const start = new Date(Date.UTC(year, month, at.getUTCDate()));
  return { kind, id: utcDay(start), start, end: new Date(Date.UTC(year, month, at.getUTCDate() + 1)) };
}

/** The day and the month that hold `at`. */
export const periodsOf = (at: Date): Record<QuotaPeriodKind, QuotaPeriod> => ({
  day: periodOf('day', at),
  month: periodOf('month', at),
});

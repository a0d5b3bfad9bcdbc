/** What a pass of the retention sweep removes, as counted in `imagegen_retention_removed_total`. */
export type RetentionKind =
  | 'images'
  | 'generations'
  | 'webhook_attempts'
  | 'webhook_messages'
  | 'idempotency_keys'
  | 'claims'
  | 'orphan_images'
  | 'accounts';

/** One kind of the sweep: removes at most one batch of what is due at `now`, and says how many it removed. */
export interface SweepTask {
  readonly kind: RetentionKind;
  run(now: Date): Promise<number>;
}

/** What the sweeper reports; the worker's metrics are one implementation. */
export interface SweepObserver {
  retentionRemoved(kind: RetentionKind, count: number): void;
  sweepPassEnded(seconds: number): void;
}

/** Milliseconds in a day, for the settings given in days. */
export const DAY_MS = 86_400_000;

/** The moment `ageMs` before `now`: what was written before it is due. */
export const before = (now: Date, ageMs: number): Date => new Date(now.getTime() - ageMs);

import type { Logger } from '@imagegen/core';

/**
 * Runs `work` on every item, one after another, and returns the items it succeeded on. One at a
 * time: FerretDB on SQLite refuses concurrent writes (SQLITE_BUSY), and a background sweep has no
 * hurry that would justify crowding the store the jobs use. A failure is logged and skipped, not
 * thrown: one item that cannot be removed now (a store briefly away) must not hold back the rest
 * of the batch, and the next pass tries it again.
 */
export async function eachSettled<T>(
  items: readonly T[],
  work: (item: T) => Promise<void>,
  onError: (item: T, err: Error) => void,
): Promise<T[]> {
  const done: T[] = [];
  for (const item of items) {
    try {
      await work(item);
      done.push(item);
    } catch (err) {
      onError(item, err as Error);
    }
  }
  return done;
}

/** The `onError` of a task that logs which record it could not remove, and why. */
export const warnOf =
  (logger: Logger, message: string) =>
  (id: { toString(): string }, err: Error): void =>
    logger.warn({ id: id.toString(), err: err.message }, message);

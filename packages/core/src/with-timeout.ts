/**
 * Settles as `work` does, or rejects with `timeoutError()` once `ms` pass first. A plain timer,
 * cleared as soon as either side settles, rather than an aborted sleep: aborting would build an
 * AbortError on every call, and some callers (enqueueing a job) are on every request's path.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

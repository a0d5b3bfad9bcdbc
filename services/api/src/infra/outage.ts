import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';

/**
 * True when an error means MongoDB or Redis cannot be reached right now, as opposed to a bug:
 * such requests answer 503 so that clients retry.
 */
export function isDependencyOutage(err: unknown): boolean {
  if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError) return true;
  if (!(err instanceof Error)) return false;
  return (
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|max retries per request/i.test(err.message) ||
    ('code' in err && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET'))
  );
}

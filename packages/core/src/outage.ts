import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';

/**
 * True when MongoDB cannot be reached right now (the server is down or the network is), as opposed
 * to a bug. MongoNetworkTimeoutError is a MongoNetworkError. The driver lets one socket error
 * through unwrapped: EPIPE, from writing to a connection the server has just closed. Other bare
 * socket errors are not counted, as they may come from elsewhere (Hugging Face, webhooks).
 */
export function isMongoOutage(err: unknown): boolean {
  return (
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNetworkError ||
    (err instanceof Error && 'code' in err && err.code === 'EPIPE')
  );
}

/**
 * True when an error means MongoDB or Redis cannot be reached right now, as opposed to a bug:
 * such requests answer 503 so that clients retry.
 */
export function isDependencyOutage(err: unknown): boolean {
  if (isMongoOutage(err)) return true;
  if (!(err instanceof Error)) return false;
  return (
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|max retries per request/i.test(err.message) ||
    ('code' in err && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET'))
  );
}

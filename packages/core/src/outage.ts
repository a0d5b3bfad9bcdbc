import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';

/**
 * A write that other writers kept making first, or whose claim's writer has not made it for a
 * while (GenerationStore): like an outage, it passes, and the caller should try again shortly.
 */
export class WriteContendedError extends Error {
  override name = 'WriteContendedError';
}

/**
 * True when MongoDB cannot be reached right now (the server is down or the network is), or cannot
 * take a write yet (`WriteContendedError`), as opposed to a bug. MongoNetworkTimeoutError is a MongoNetworkError. The driver lets one socket error
 * through unwrapped: EPIPE, from writing to a connection the server has just closed. Other bare
 * socket errors are not counted, as they may come from elsewhere (Hugging Face, webhooks).
 */
export function isMongoOutage(err: unknown): boolean {
  return (
    err instanceof WriteContendedError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNetworkError ||
    (err instanceof Error && 'code' in err && err.code === 'EPIPE')
  );
}

/**
 * What Redis and its client say while no primary can take a command: a connection lost or
 * refused, commands refused while offline, and during a failover the replies of a cluster with a
 * slot unserved (CLUSTERDOWN, TRYAGAIN), of a node that is a replica now (READONLY) or still
 * loading its data (LOADING), of a replica whose primary is gone (MASTERDOWN), and the cluster
 * client giving up on them (its slot map not refreshed, too many redirections).
 */
const REDIS_CLIENT_UNAVAILABLE =
  /enableOfflineQueue|Connection is closed|ECONNREFUSED|max retries per request|Failed to refresh slots cache|Too many Cluster redirections|All sentinels are unreachable/i;
/** Redis's own error replies start with their code, in capitals. */
const REDIS_REPLY_UNAVAILABLE = /^(CLUSTERDOWN|TRYAGAIN|READONLY|LOADING|MASTERDOWN) /;

/**
 * True when an error means MongoDB or Redis cannot be reached right now, as opposed to a bug:
 * such requests answer 503 so that clients retry.
 */
export function isDependencyOutage(err: unknown): boolean {
  if (isMongoOutage(err)) return true;
  if (!(err instanceof Error)) return false;
  return (
    REDIS_CLIENT_UNAVAILABLE.test(err.message) ||
    REDIS_REPLY_UNAVAILABLE.test(err.message) ||
    ('code' in err && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET'))
  );
}

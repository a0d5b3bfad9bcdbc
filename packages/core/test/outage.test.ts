import { MongoNetworkError } from 'mongodb';
import { isDependencyOutage, WriteContendedError } from '../src';

describe('isDependencyOutage: what answers 503 rather than 500', () => {
  test('when Redis or its client says no primary can take the command, then it is an outage', () => {
    for (const message of [
      'Connection is closed.',
      "Stream isn't writeable and enableOfflineQueue options is false",
      "Cluster isn't ready and enableOfflineQueue options is false",
      'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
      'Failed to refresh slots cache.',
      'Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down',
      'All sentinels are unreachable. Retrying from scratch after 10ms.',
      'CLUSTERDOWN Hash slot not served',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      "READONLY You can't write against a read only replica.",
      'LOADING Redis is loading the dataset in memory',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
    ])
      expect({ message, outage: isDependencyOutage(new Error(message)) }).toEqual({ message, outage: true });
    expect(isDependencyOutage(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isDependencyOutage(new MongoNetworkError('gone'))).toBe(true);
    expect(isDependencyOutage(new WriteContendedError('busy'))).toBe(true);
  });

  test('when an error is a bug or a refusal of the command itself, then it is not an outage', () => {
    for (const message of [
      'ERR wrong number of arguments for command',
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      'Cannot assign to read only property',
      'model is loading',
    ])
      expect({ message, outage: isDependencyOutage(new Error(message)) }).toEqual({ message, outage: false });
  });
});

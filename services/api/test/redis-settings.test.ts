import { ConfigError, redisTarget } from '@imagegen/shared';
import { loadWorkerConfig } from '../../worker/src/config';
import { loadApiConfig } from '../src/config';

const BASE = { JWT_SECRET: 'x'.repeat(32), HF_TOKEN: 'hf_test' };

function problems(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('Redis settings: one server, Sentinels or a cluster, for both services', () => {
  test('when nothing names a topology, then REDIS_URL is the one server', () => {
    expect(redisTarget(loadApiConfig(BASE))).toEqual({ mode: 'standalone', url: 'redis://127.0.0.1:6379' });
  });

  test('when REDIS_PASSWORD is given beside a REDIS_URL without one, then the one server gets it', () => {
    const env = { ...BASE, REDIS_URL: 'redis://r.example:6379', REDIS_PASSWORD: 'pw' };
    expect(redisTarget(loadApiConfig(env))).toEqual({
      mode: 'standalone',
      url: 'redis://r.example:6379',
      password: 'pw',
    });
  });

  test('when REDIS_CLUSTER_NODES or a redis+cluster:// URL names a cluster with a hash-tagged prefix, then both services take the cluster with its credentials', () => {
    const nodes = { ...BASE, REDIS_CLUSTER_NODES: 'a.example:7000, b.example:7001', QUEUE_PREFIX: '{imagegen}' };
    for (const load of [loadApiConfig, loadWorkerConfig]) {
      expect(redisTarget(load({ ...nodes, REDIS_PASSWORD: 'pw' }))).toEqual({
        mode: 'cluster',
        nodes: [
          { host: 'a.example', port: 7000 },
          { host: 'b.example', port: 7001 },
        ],
        password: 'pw',
      });
    }
    const url = { ...BASE, REDIS_URL: 'redis+cluster://app:s%40cret@[::1]:7000,c.example:7002', QUEUE_PREFIX: 'x{y}' };
    expect(redisTarget(loadApiConfig(url))).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '::1', port: 7000 },
        { host: 'c.example', port: 7002 },
      ],
      username: 'app',
      password: 's@cret',
    });
  });

  test('when Sentinels are named with their primary, then both services take them', () => {
    const env = { ...BASE, REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_MASTER: 'imagegen' };
    expect(redisTarget(loadWorkerConfig({ ...env, REDIS_SENTINEL_PASSWORD: 'spw' }))).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      master: 'imagegen',
      sentinelPassword: 'spw',
    });
  });

  test('when the settings contradict each other or are malformed, then the error names the variable at fault', () => {
    const cases: [Record<string, string>, string][] = [
      [{ REDIS_CLUSTER_NODES: 'a:7000' }, 'QUEUE_PREFIX: a Redis Cluster needs a hash tag in it, such as {imagegen}'],
      [{ REDIS_URL: 'redis+cluster://a:7000', QUEUE_PREFIX: 'plain' }, 'QUEUE_PREFIX:'],
      [{ REDIS_CLUSTER_NODES: 'a', QUEUE_PREFIX: '{p}' }, 'REDIS_CLUSTER_NODES.0: must be host:port'],
      [{ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINEL_MASTER: REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together'],
      [{ REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS:'],
      [
        { REDIS_CLUSTER_NODES: 'a:1', QUEUE_PREFIX: '{p}', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_MASTER: 'm' },
        'REDIS_SENTINELS: a Redis Cluster has no Sentinels',
      ],
      [{ REDIS_URL: 'http://a:1' }, 'REDIS_URL: must be a redis://, rediss:// or redis+cluster:// URL'],
      [{ QUEUE_PREFIX: '{a}{b}' }, 'QUEUE_PREFIX:'],
      [
        { REDIS_URL: 'redis://:pw@r:6379', REDIS_PASSWORD: 'pw' },
        'REDIS_PASSWORD: REDIS_URL carries credentials already',
      ],
    ];
    for (const [env, expected] of cases) {
      const found = problems(() => loadApiConfig({ ...BASE, ...env }));
      expect({ env, found: found.some((p) => p.startsWith(expected)) }).toEqual({ env, found: true });
    }
  });
});

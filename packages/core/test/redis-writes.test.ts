import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as endOfTurn } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '@imagegen/devstack';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { createRedis, duplicateRedis, redisReady, type RedisClient } from '../src';

/**
 * What one connection holds back before the end of the turn: the bytes of the commands it was
 * given, still in its socket (written: none). Without `oneWritePerTurn` each command is written
 * as it is given and nothing waits.
 */
const waiting = (redis: Redis) => redis.stream.writableLength;

/** Gives `redis` `count` INCRs of `key` in one turn, checks they wait, then that each got its own reply in order. */
async function incrementsInOneTurn(redis: Redis, key: string, count: number): Promise<void> {
  const replies = Array.from({ length: count }, () => redis.incr(key));
  expect(waiting(redis)).toBeGreaterThan(0);
  await endOfTurn();
  expect(waiting(redis)).toBe(0);
  expect(await Promise.all(replies)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
}

describe('a Redis connection’s writes', () => {
  let env: Isolation;
  const opened: RedisClient[] = [];
  const open = async (client: RedisClient) => {
    opened.push(client);
    await redisReady(client, 10_000);
    return client;
  };

  beforeAll(() => {
    env = isolation();
  });

  afterAll(async () => {
    opened.forEach((client) => client.disconnect());
    await env?.cleanup();
  });

  test('when a connection is given commands in one turn, then they wait for its end and each gets its reply', async () => {
    const redis = (await open(createRedis({ mode: 'standalone', url: env.redisUrl }, 'fail-fast'))) as Redis;
    await incrementsInOneTurn(redis, `${env.queuePrefix}:one-turn`, 50);
    // The next turn's commands wait for that turn's end in their turn.
    await incrementsInOneTurn(redis, `${env.queuePrefix}:next-turn`, 3);
  });

  test('when a connection is duplicated, then the copy sends its commands of a turn together too', async () => {
    const redis = await open(createRedis({ mode: 'standalone', url: env.redisUrl }, 'fail-fast'));
    const copy = (await open(duplicateRedis(redis, 'blocking'))) as Redis;
    await incrementsInOneTurn(copy, `${env.queuePrefix}:copy`, 10);
  });

  test('when a MULTI is sent in a turn with other commands, then its answer is whole', async () => {
    const redis = (await open(createRedis({ mode: 'standalone', url: env.redisUrl }, 'fail-fast'))) as Redis;
    const key = `${env.queuePrefix}:multi`;
    const before = redis.incr(key);
    const multi = redis.multi().incr(key).incr(key).exec();
    const after = redis.incr(key);
    expect(await Promise.all([before, multi, after])).toEqual([
      1,
      [
        [null, 2],
        [null, 3],
      ],
      4,
    ]);
  });

  describe('on a Redis Cluster', () => {
    let dir: string;
    let cluster: RedisCluster;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'imagegen-redis-writes-'));
      cluster = await startRedisCluster(dir, { replicasPerPrimary: 0 });
    }, 60_000);

    afterAll(async () => {
      await cluster?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('when a node is given commands in one turn, then they wait for its end there', async () => {
      const client = (await open(
        createRedis({ mode: 'cluster', nodes: cluster.nodes.map(({ host, port }) => ({ host, port })) }, 'fail-fast'),
      )) as Cluster;
      const key = '{writes}:counter';
      await client.set(key, 0);
      const { port } = await cluster.primaryFor(key);
      const node = client.nodes('master').find((redis) => redis.options.port === port)!;
      await incrementsInOneTurn(node, key, 20);
      expect(await client.get(key)).toBe('20');
    });
  });
});

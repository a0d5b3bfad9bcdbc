import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { bullmqKeys } from '../src/jobs/bullmq-keys';

/**
 * BullMQ's key layout is its own, not a contract: this test fails when an upgrade moves the lists
 * that `bullmqKeys` names, or the end of `wait` workers take jobs from.
 */
describe('bullmqKeys, against real BullMQ on real Redis', () => {
  let env: Isolation;
  let redis: Redis;
  let queue: Queue;

  beforeAll(() => {
    env = isolation();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue('layout', { connection: redis, prefix: env.queuePrefix });
  });

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await env?.cleanup();
  });

  test('when jobs are added and one is taken, then wait and active hold their ids, the next one at the tail of wait', async () => {
    const keys = bullmqKeys(queue);
    expect(keys.wait.startsWith(`${env.queuePrefix}:layout:`)).toBe(true);
    for (const id of ['first', 'second', 'third']) await queue.add('job', {}, { jobId: id });
    expect(await redis.lrange(keys.wait, 0, -1)).toEqual(['third', 'second', 'first']);
    expect(await redis.llen(keys.active)).toBe(0);

    const connection = redis.duplicate();
    const worker = new Worker('layout', null, { connection, prefix: env.queuePrefix });
    try {
      const taken = await worker.getNextJob('token');
      expect(taken?.id).toBe('first');
      expect(await redis.lrange(keys.wait, 0, -1)).toEqual(['third', 'second']);
      expect(await redis.lrange(keys.active, 0, -1)).toEqual(['first']);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  });
});

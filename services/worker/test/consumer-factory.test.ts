import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { JOBS, QUEUES, type JobData } from '@imagegen/shared';
import { createLogger } from '@imagegen/core';
import { isolation, type Isolation } from '../../../test/support/isolation';
import { buildConsumers, handle, type QueueConsumer } from '../src/consumer-factory';

const noop = async () => undefined;

/** A consumer of every queue, each with a handler for each of its jobs. */
const complete = (): QueueConsumer[] => [
  { queue: QUEUES.generations, concurrency: 1, handlers: [handle(JOBS.generationCreate, noop)] },
  { queue: QUEUES.webhooks, concurrency: 1, handlers: [handle(JOBS.webhookDeliver, noop)] },
  { queue: QUEUES.deadlines, concurrency: 1, handlers: [handle(JOBS.generationDeadline, noop)] },
];

describe('the consumer factory', () => {
  let env: Isolation;
  let redis: Redis;

  beforeAll(() => {
    env = isolation();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    redis?.disconnect();
    await env?.cleanup();
  });

  const options = () => ({
    connection: redis,
    prefix: env.queuePrefix,
    lockDuration: 30_000,
    stalledInterval: 30_000,
    logger: createLogger('test', 'silent'),
  });

  test('when a job of the catalog has no processor, then it refuses to start, naming the job', () => {
    const consumers = complete();
    consumers[2] = { ...consumers[2]!, handlers: [] };
    expect(() => buildConsumers(consumers, options())).toThrow('job "generation.deadline" has no processors');
  });

  test('when a whole queue has no consumer, then it refuses to start, naming its job', () => {
    expect(() => buildConsumers(complete().slice(0, 2), options())).toThrow(
      'job "generation.deadline" has no processors',
    );
  });

  test('when a job has two processors, then it refuses to start, naming the job', () => {
    const consumers = complete();
    consumers[1] = {
      ...consumers[1]!,
      handlers: [handle(JOBS.webhookDeliver, noop), handle(JOBS.webhookDeliver, noop)],
    };
    expect(() => buildConsumers(consumers, options())).toThrow('job "webhook.deliver" has 2 processors');
  });

  test('when a job is handled by the consumer of another queue, then it refuses to start', () => {
    const consumers = complete();
    consumers[0] = { ...consumers[0]!, handlers: [...consumers[0]!.handlers, handle(JOBS.webhookDeliver, noop)] };
    expect(() => buildConsumers(consumers, options())).toThrow(
      'job "webhook.deliver" is handled by the consumer of "generations", not its own queue',
    );
  });

  test('when every job has one processor, then each job reaches its own, its data parsed by the catalog schema', async () => {
    const seen: JobData<typeof JOBS.generationCreate>[] = [];
    const consumers = complete();
    consumers[0] = {
      ...consumers[0]!,
      handlers: [
        handle(JOBS.generationCreate, async (job) => {
          seen.push(job.data);
        }),
      ],
    };
    const workers = buildConsumers(consumers, options());
    const queue = new Queue(QUEUES.generations, { connection: redis, prefix: env.queuePrefix });
    const eventsRedis = redis.duplicate();
    // From the stream's start, not its end: a job may finish before the first read of the events, and
    // this file's prefix is its own, so nothing older is there.
    const events = new QueueEvents(QUEUES.generations, {
      connection: eventsRedis,
      prefix: env.queuePrefix,
      lastEventId: '0-0',
    });
    try {
      await events.waitUntilReady();
      void workers[QUEUES.generations].run();
      const generationId = '0123456789abcdef01234567';
      // Added without `run`, as a job of an older producer might be: the schema's default fills it in.
      const good = await queue.add(JOBS.generationCreate, { generationId });
      await good.waitUntilFinished(events);
      expect(seen).toEqual([{ generationId, run: 1 }]);

      const bad = await queue.add(JOBS.generationCreate, { generationId: 'not an id' }, { attempts: 3 });
      await expect(bad.waitUntilFinished(events)).rejects.toThrow('invalid job payload');
      const unnamed = await queue.add('generation.unknown', { generationId }, { attempts: 3 });
      await expect(unnamed.waitUntilFinished(events)).rejects.toThrow('no processor for job name "generation.unknown"');
      // Failed for good at once: neither is worth another attempt.
      const failed = await Promise.all([bad, unnamed].map((job: Job) => queue.getJob(job.id!)));
      expect(failed.map((job) => job?.attemptsMade)).toEqual([1, 1]);
    } finally {
      await Promise.all(Object.values(workers).map((worker) => worker.close()));
      await Promise.all([queue.close(), events.close()]);
      eventsRedis.disconnect();
    }
  });
});

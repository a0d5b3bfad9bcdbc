import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '@imagegen/shared';
import { spawnWorker, type SpawnedService } from '../support/services';
import { newUser, startSystem, type System } from '../support/system';

describe('a job that fails before the generation processor runs', () => {
  let system: System;
  let redis: Redis;
  let queue: Queue;
  let restarted: SpawnedService | undefined;

  beforeAll(async () => {
    system = await startSystem();
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.generations, { connection: redis, prefix: system.env.queuePrefix });
  });

  afterAll(async () => {
    await restarted?.stop();
    await queue?.close();
    redis?.disconnect();
    await system?.stop();
  });

  test('when a job carries a name no processor handles, then it fails without retrying and its generation ends failed', async () => {
    const client = await newUser(system);
    await system.worker.stop();
    const created = await client.create({ prompt: 'a paper boat on a puddle' });
    // Replace the API's job with one whose name the worker does not know.
    await queue.remove(created.id);
    await queue.add('generation.unknown', { generationId: created.id }, { jobId: `bogus-${created.id}`, attempts: 3 });

    restarted = await spawnWorker(system.workerEnv);
    const failed = await client.waitFor(created.id, ['failed']);
    expect(failed.error).toBe('Internal error while generating the image');
    expect(failed.attempts).toBe(0);
    const job = await queue.getJob(`bogus-${created.id}`);
    expect(job?.failedReason).toContain('no processor for job name "generation.unknown"');
    expect(job?.attemptsMade).toBe(1);
    expect(system.emulator.requests).toHaveLength(0);
  });
});

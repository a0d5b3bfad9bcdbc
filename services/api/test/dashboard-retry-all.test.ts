import { randomUUID } from 'node:crypto';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { generationJobId, QUEUES } from '@imagegen/shared';
import { RETRY_PAGE_SIZE } from '../src/admin/dashboard-generation-actions';
import { startHarness, type Harness } from './api-harness';
import { ADMIN_ENV, GEN_QAPI, generationsOf, signInToDashboard } from './admin-support';

/** Two and a half pages of failed jobs. */
const FAILED = Math.round(RETRY_PAGE_SIZE * 2.5);
/** Every tenth one's record did not follow its job (still pending): "retry all" skips it. */
const isSkipped = (index: number) => index % 10 === 0;

describe('the dashboard\u2019s "retry all" on a queue holding more failed jobs than one page', () => {
  let h: Harness;
  let redis: Redis;
  let worker: Worker;

  beforeAll(async () => {
    h = await startHarness({ ...ADMIN_ENV, MAX_IN_FLIGHT_PER_USER: '1000', CREATE_RATE_LIMIT: '1000' });
    redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    worker = new Worker(QUEUES.generations, null, { connection: redis, prefix: h.iso.queuePrefix, autorun: false });
  });

  afterAll(async () => {
    await worker?.close();
    redis?.disconnect();
    await h?.stop();
  });

  /** Creates `count` generations and fails each one's job, as the worker gives up on one. */
  async function failedGenerations(count: number): Promise<string[]> {
    const user = await h.user('many-failures@example.com');
    const ids: string[] = [];
    for (let i = 0; i < count; i += 25) {
      const batch = Array.from({ length: Math.min(25, count - i) }, (_, j) =>
        user.create({ prompt: `fails ${i + j}` }),
      );
      ids.push(...(await Promise.all(batch)).map((g) => g.id));
    }
    for (let i = 0; i < count; i++) {
      const token = randomUUID();
      const job = await worker.getNextJob(token, { block: false });
      if (!job) throw new Error(`only ${i} of ${count} jobs were waiting`);
      await job.moveToFailed(new UnrecoverableError('x'), token);
    }
    return ids;
  }

  test('when it retries every failed job, then all are run again, read a page at a time, and the skipped ones stay failed', async () => {
    const ids = await failedGenerations(FAILED);
    const skipped = ids.filter((_, i) => isSkipped(i));
    const failing = ids.filter((_, i) => !isSkipped(i));
    await generationsOf(h).updateMany(
      { _id: { $in: failing.map((id) => new ObjectId(id)) } },
      { $set: { status: 'failed', error: 'x', started_at: new Date(), completed_at: new Date() } },
    );
    expect(await h.queue.getFailedCount()).toBe(FAILED);
    const browser = await signInToDashboard(h);

    // The API's own queue is a BullMQ Queue in this process: every read of it passes through.
    const reads = jest.spyOn(Queue.prototype, 'getJobs');
    try {
      const answer = await browser.act('PUT', `${GEN_QAPI}/retry/failed`);
      expect(answer.status).toBe(200);
      expect(answer.json()).toEqual({ retried: failing.length, skipped: skipped.length });
      const pages = reads.mock.calls.filter(([types]) => JSON.stringify(types) === '["failed"]');
      expect(pages.length).toBeGreaterThan(FAILED / RETRY_PAGE_SIZE);
      // Never the whole set at once (0 to -1): each read is one page.
      expect(pages.map(([, start = 0, end = -1]) => end - start + 1)).toEqual(pages.map(() => RETRY_PAGE_SIZE));
    } finally {
      reads.mockRestore();
    }

    // Each retried one runs again as its second run; the skipped ones are left as they were.
    const reopened = await generationsOf(h)
      .find({ _id: { $in: failing.map((id) => new ObjectId(id)) } }, { projection: { status: 1, run: 1 } })
      .toArray();
    expect(reopened).toHaveLength(failing.length);
    expect(reopened.every((g) => g.status === 'pending' && g.run === 2)).toBe(true);
    const secondRuns = await Promise.all(failing.map((id) => h.queue.getJobState(generationJobId(id, 2))));
    expect(secondRuns.filter((state) => state !== 'waiting')).toEqual([]);
    const stillFailed = (await h.queue.getJobs(['failed'])).map((job) => job.id).sort();
    expect(stillFailed).toEqual([...skipped].sort());
  });
});

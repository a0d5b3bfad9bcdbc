import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { generationJobId, type GenerationDocument, type RunTimes } from '@imagegen/shared';
import type { QueueStanding } from '../generations/generation.mapper';

/**
 * A pending generation's place in the generations queue. BullMQ adds jobs at the head of its wait
 * list and workers take them from the tail, so the place is counted from the tail (1 = next).
 */
export class QueueStandings {
  constructor(
    private readonly redis: Redis,
    private readonly queue: Queue,
    private readonly runTimes: RunTimes,
  ) {}

  async of(generation: GenerationDocument): Promise<QueueStanding> {
    const key = `${this.queue.opts.prefix ?? 'bull'}:${this.queue.name}:wait`;
    const jobId = generationJobId(generation._id.toHexString(), generation.run);
    // All at once, though the last two are only needed when the job waits: one round trip, not two.
    const [index, length, average, running] = await Promise.all([
      this.redis.lpos(key, jobId),
      this.redis.llen(key),
      this.runTimes.average(),
      this.queue.getActiveCount(),
    ]);
    // Not waiting: delayed before a retry, taken by a worker this instant, or the queue is paused.
    if (index === null) return { position: null, estimatedStartSeconds: null };
    const position = length - index;
    // The jobs running show how many slots the workers have; each slot takes one job per average run.
    const rounds = Math.ceil(position / Math.max(1, running));
    return { position, estimatedStartSeconds: average === null ? null : Math.round((rounds * average) / 1000) };
  }
}

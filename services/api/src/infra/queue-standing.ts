import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { generationJobId, NOT_QUEUED, RunTimes, type GenerationDocument, type QueuePlace } from '@imagegen/shared';

/** A job a worker has just taken, before its record says `processing`: next, and starting now. */
const STARTING: QueuePlace = { queue_position: 1, estimated_start_seconds: 0 };

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

  async of(generation: GenerationDocument): Promise<QueuePlace> {
    const base = `${this.queue.opts.prefix ?? 'bull'}:${this.queue.name}`;
    const jobId = generationJobId(generation._id.toHexString(), generation.run);
    // One pipeline, one write to the socket: on the create path each Redis write is a measurable
    // share of the API's CPU (bench/README.md). Only one of the two LPOS answers is ever used.
    const replies = await this.redis
      .pipeline()
      .lpos(`${base}:wait`, jobId)
      .llen(`${base}:wait`)
      .llen(`${base}:active`)
      .lrange(this.runTimes.key, 0, -1)
      .lpos(`${base}:active`, jobId)
      .exec();
    const [index, length, running, recent, taken] = (replies ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [number | null, number, number, string[], number | null];
    const average = RunTimes.mean(recent);
    // Taken from the wait list a moment ago: shown as next rather than as no place at all, which a
    // client could only show as "queued" just before it says "generating".
    if (index === null && taken !== null) return STARTING;
    // Not waiting: delayed before a retry (or removed, as a canceled job is).
    if (index === null) return NOT_QUEUED;
    const position = length - index;
    // The jobs running show how many slots the workers have; each slot takes one job per average run.
    const rounds = Math.ceil(position / Math.max(1, running));
    return {
      queue_position: position,
      estimated_start_seconds: average === null ? null : Math.round((rounds * average) / 1000),
    };
  }
}

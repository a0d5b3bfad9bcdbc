import type { Queue } from 'bullmq';
import type { RedisClient } from '@imagegen/core';
import { generationJobId, NOT_QUEUED, type QueuePlace } from '@imagegen/shared';
import { RunTimes, bullmqKeys, type GenerationDocument } from '@imagegen/core';

/** A job a worker has just taken, before its record says `processing`: next, and starting now. */
const STARTING: QueuePlace = { queue_position: 1, estimated_start_seconds: 0 };

/**
 * Lua: `queueNow(wait, active, runTimes)` reads what `placeOfNew` needs, for a script that runs
 * before the job is added (a create's admission), so that its place costs no round trip of its own.
 */
export const QUEUE_NOW_LUA = `
local function queueNow(wait, active, runTimes)
  return {redis.call('LLEN', wait), redis.call('LLEN', active), redis.call('LRANGE', runTimes, 0, -1)}
end`;

/** What `queueNow` answers: the jobs waiting, the jobs running, the recent run times. */
export type QueueNow = [number, number, string[]];

/** The generations queue as one read saw it: every job's place, from a single pipeline. */
export interface QueueSnapshot {
  placeOf(generation: GenerationDocument): QueuePlace;
}

/**
 * A pending generation's place in the generations queue. BullMQ adds jobs at the head of its wait
 * list and workers take them from the tail (`bullmqKeys`), so the place is counted from the tail
 * (1 = next).
 */
export class QueueStandings {
  private readonly keys;

  constructor(
    private readonly redis: RedisClient,
    queue: Queue,
    private readonly runTimes: RunTimes,
  ) {
    this.keys = bullmqKeys(queue);
  }

  /** The keys `queueNow` reads, in its order. */
  get queueNowKeys(): [string, string, string] {
    return [this.keys.wait, this.keys.active, this.runTimes.key];
  }

  /**
   * The place of a job added once `queueNow` had read the queue: at the head of the wait list,
   * behind every job waiting then. Jobs added or taken in between move it by as many.
   */
  placeOfNew([waiting, running, recent]: QueueNow): QueuePlace {
    return place(0, waiting + 1, running, RunTimes.mean(recent), false);
  }

  /** One generation's place (a GET, a stream as it opens): two LPOS rather than the whole list. */
  async of(generation: GenerationDocument): Promise<QueuePlace> {
    const jobId = jobIdOf(generation);
    // One pipeline, one write to the socket: on the create path each Redis write is a measurable
    // share of the API's CPU (bench/README.md). Only one of the two LPOS answers is ever used.
    const [index, length, running, recent, taken] = await this.read<
      [number | null, number, number, string[], number | null]
    >((pipeline, keys) =>
      pipeline
        .lpos(keys.wait, jobId)
        .llen(keys.wait)
        .llen(keys.active)
        .lrange(this.runTimes.key, 0, -1)
        .lpos(keys.active, jobId),
    );
    return place(index, length, running, RunTimes.mean(recent), taken !== null);
  }

  /**
   * Every job's place at once, for the streams that follow many pending generations: the wait and
   * active lists whole, in one pipeline, however many generations are then looked up in it.
   */
  async snapshot(): Promise<QueueSnapshot> {
    const [waiting, active, recent] = await this.read<[string[], string[], string[]]>((pipeline, keys) =>
      pipeline.lrange(keys.wait, 0, -1).lrange(keys.active, 0, -1).lrange(this.runTimes.key, 0, -1),
    );
    const indexes = new Map(waiting.map((jobId, index) => [jobId, index]));
    const taken = new Set(active);
    const average = RunTimes.mean(recent);
    return {
      placeOf: (generation) => {
        const jobId = jobIdOf(generation);
        return place(indexes.get(jobId) ?? null, waiting.length, active.length, average, taken.has(jobId));
      },
    };
  }

  private async read<T extends unknown[]>(
    build: (
      pipeline: ReturnType<RedisClient['pipeline']>,
      keys: ReturnType<typeof bullmqKeys>,
    ) => ReturnType<RedisClient['pipeline']>,
  ): Promise<T> {
    const replies = await build(this.redis.pipeline(), this.keys).exec();
    return (replies ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as T;
  }
}

const jobIdOf = (generation: GenerationDocument) => generationJobId(generation._id.toHexString(), generation.run);

function place(
  index: number | null,
  length: number,
  running: number,
  average: number | null,
  taken: boolean,
): QueuePlace {
  // Taken from the wait list a moment ago: shown as next rather than as no place at all, which a
  // client could only show as "queued" just before it says "generating".
  if (index === null && taken) return STARTING;
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

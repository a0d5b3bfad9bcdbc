import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../errors';
import { JOBS, QUEUES, generationJobOptions, type GenerationJobData, type Logger } from '@imagegen/shared';

/** How long an add may take before the request gives up and answers 503. */
const ENQUEUE_TIMEOUT_MS = 3_000;

/** The producer side of the generations queue. */
export class GenerationQueue {
  private readonly queue: Queue<GenerationJobData>;

  constructor(
    private readonly connection: Redis,
    prefix: string,
    logger: Logger,
  ) {
    this.queue = new Queue<GenerationJobData>(QUEUES.generations, { connection, prefix });
    this.queue.on('error', (err) => logger.warn({ err: err.message }, 'generation queue error'));
  }

  /**
   * Adds the job, or throws at once when Redis is away: BullMQ would otherwise wait for the
   * connection to come back and hold the request open meanwhile.
   */
  async enqueue(generationId: string): Promise<void> {
    if (this.connection.status !== 'ready') {
      throw new ServiceUnavailableError(
        `The job queue is unavailable (Redis ${this.connection.status}); retry shortly`,
      );
    }
    const timeout = new AbortController();
    try {
      await Promise.race([
        this.queue.add(JOBS.generationCreate, { generationId }, generationJobOptions(generationId)),
        sleep(ENQUEUE_TIMEOUT_MS, undefined, { signal: timeout.signal }).then(() => {
          throw new ServiceUnavailableError('The job queue did not answer in time; retry shortly');
        }),
      ]);
    } finally {
      timeout.abort();
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

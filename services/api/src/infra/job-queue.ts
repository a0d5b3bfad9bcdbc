import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@imagegen/core';
import { queueTelemetry } from '@imagegen/telemetry';
import { ServiceUnavailableError } from '../errors';

/** How long an add may take before the request gives up and answers 503. */
const ENQUEUE_TIMEOUT_MS = 3_000;

/** The API's producer side of one queue. */
export class JobQueue<Data extends object> {
  // Untyped inside: BullMQ cannot resolve its name and data types over a generic `Data`; `add` is typed.
  /** The BullMQ queue itself, for the dashboard and the admin API's counts. */
  readonly queue: Queue;

  constructor(
    private readonly connection: Redis,
    name: string,
    prefix: string,
    logger: Logger,
  ) {
    this.queue = new Queue(name, { connection, prefix, telemetry: queueTelemetry() });
    this.queue.on('error', (err) => logger.warn({ err: err.message, queue: name }, 'queue error'));
  }

  /**
   * Adds the job, or throws at once when Redis is away: BullMQ would otherwise wait for the
   * connection to come back and hold the request open meanwhile.
   */
  async add(jobName: string, data: Data, options: JobsOptions): Promise<void> {
    if (this.connection.status !== 'ready') {
      throw new ServiceUnavailableError(
        `The job queue is unavailable (Redis ${this.connection.status}); retry shortly`,
      );
    }
    // A plain timer, not an aborted sleep: aborting makes an AbortError on every add.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ServiceUnavailableError('The job queue did not answer in time; retry shortly')),
        ENQUEUE_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.queue.add(jobName, data, options), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

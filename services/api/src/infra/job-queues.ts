import type { Queue } from 'bullmq';
import type { RedisClient } from '@imagegen/core';
import { JobQueues, withTimeout, type Logger } from '@imagegen/core';
import type { JobName, JobOptions } from '@imagegen/shared';
import { queueTelemetry } from '@imagegen/telemetry';
import { ServiceUnavailableError } from '../errors';

/** How long an add may take before the request gives up and answers 503. */
const ENQUEUE_TIMEOUT_MS = 3_000;

/** The API's producer side of the job queues: a request never waits for Redis to come back. */
export class FailFastJobQueues extends JobQueues {
  constructor(
    private readonly connection: RedisClient,
    prefix: string,
    logger: Logger,
  ) {
    super({ connection, prefix, telemetry: queueTelemetry() }, logger);
  }

  /**
   * Adds the job, or throws at once when Redis is away: BullMQ would otherwise wait for the
   * connection to come back and hold the request open meanwhile.
   */
  protected override async add(queue: Queue, name: JobName, data: object, options: JobOptions): Promise<unknown> {
    if (this.connection.status !== 'ready') {
      throw new ServiceUnavailableError(
        `The job queue is unavailable (Redis ${this.connection.status}); retry shortly`,
      );
    }
    return withTimeout(
      queue.add(name, data, options),
      ENQUEUE_TIMEOUT_MS,
      () => new ServiceUnavailableError('The job queue did not answer in time; retry shortly'),
    );
  }
}

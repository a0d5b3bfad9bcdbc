import { Queue, type QueueOptions } from 'bullmq';
import {
  JOB_CATALOG,
  QUEUES,
  jobOptions,
  type JobData,
  type JobName,
  type JobOptionArgs,
  type JobOptions,
  type QueueName,
} from '@imagegen/shared';
import type { Logger } from '../logger';

/** What queueing a job takes: its name, its data, and what else its options need. */
export interface JobEnqueuer {
  enqueue<N extends JobName>(name: N, data: JobData<N>, ...args: JobOptionArgs<N>): Promise<void>;
}

/**
 * The producer side of every queue in the job catalog: one BullMQ queue each, and a typed
 * `enqueue` that takes each job's queue and options from the catalog.
 */
export class JobQueues implements JobEnqueuer {
  private readonly queues: Record<QueueName, Queue>;

  constructor(options: QueueOptions, logger: Logger) {
    const open = (name: QueueName) => {
      const queue = new Queue(name, options);
      queue.on('error', (err) => logger.warn({ err: err.message, queue: name }, 'queue error'));
      return queue;
    };
    this.queues = {
      [QUEUES.generations]: open(QUEUES.generations),
      [QUEUES.webhooks]: open(QUEUES.webhooks),
      [QUEUES.deadlines]: open(QUEUES.deadlines),
    };
  }

  /** The BullMQ queue itself, for what the catalog does not cover: a job's state, counts, the dashboard. */
  queue(name: QueueName): Queue {
    return this.queues[name];
  }

  /** Every queue, the generations queue first. */
  all(): Queue[] {
    return Object.values(this.queues);
  }

  async enqueue<N extends JobName>(name: N, data: JobData<N>, ...args: JobOptionArgs<N>): Promise<void> {
    await this.add(this.queues[JOB_CATALOG[name].queue], name, data, jobOptions(name, data, ...args));
  }

  /** Adds one job; a producer that must not wait for Redis to come back overrides it. */
  protected add(queue: Queue, name: JobName, data: object, options: JobOptions): Promise<unknown> {
    return queue.add(name, data, options);
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((queue) => queue.close()));
  }
}

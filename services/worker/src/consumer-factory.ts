import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { RedisClient } from '@imagegen/core';
import { JOB_CATALOG, QUEUES, jobsOf, type JobData, type JobName, type QueueName } from '@imagegen/shared';
import type { Logger } from '@imagegen/core';
import { queueTelemetry } from '@imagegen/telemetry';

type Processor = (job: Job, token: string | undefined, signal: AbortSignal | undefined) => Promise<void>;

/** A job's processor, given the job with its data parsed by the catalog's payload schema. */
export type JobProcessor<N extends JobName> = (
  job: Job<JobData<N>>,
  token: string | undefined,
  signal: AbortSignal | undefined,
) => Promise<void>;

/** One job name's processor. */
export interface JobHandler {
  name: JobName;
  process: Processor;
}

export const handle = <N extends JobName>(name: N, process: JobProcessor<N>): JobHandler => ({ name, process });

/** One queue's consumer: its handlers, and what its worker does not share with the others. */
export interface QueueConsumer {
  queue: QueueName;
  concurrency: number;
  handlers: JobHandler[];
  /**
   * What to do when any job of the queue fails (an attempt, or for good), whatever its name: a job
   * that no handler knows fails too, and its generation must still end.
   */
  failed?: (job: Job, err: Error) => void;
  settings?: WorkerOptions['settings'];
}

/** What every consumer shares. */
export interface ConsumerOptions {
  connection: RedisClient;
  prefix: string;
  lockDuration: number;
  stalledInterval: number;
  logger: Logger;
}

/**
 * Builds one BullMQ worker per queue, not yet running. Refuses, before building any, unless every
 * job in the catalog has exactly one handler, in the consumer of its own queue: a job with none
 * would otherwise be found only when one fails, and one with two would run whichever came last.
 */
export function buildConsumers(consumers: QueueConsumer[], options: ConsumerOptions): Record<QueueName, Worker> {
  for (const queue of Object.values(QUEUES)) {
    const mine = consumers.filter((consumer) => consumer.queue === queue);
    if (mine.length > 1) throw new Error(`queue "${queue}" has ${mine.length} consumers`);
    const handlers = mine[0]?.handlers ?? [];
    for (const name of jobsOf(queue)) {
      const count = handlers.filter((handler) => handler.name === name).length;
      if (count !== 1) throw new Error(`job "${name}" has ${count === 0 ? 'no' : count} processors`);
    }
    const stray = handlers.find((handler) => JOB_CATALOG[handler.name].queue !== queue);
    if (stray) throw new Error(`job "${stray.name}" is handled by the consumer of "${queue}", not its own queue`);
  }
  const workers = consumers.map((consumer) => [consumer.queue, consumerWorker(consumer, options)] as const);
  // Every queue has jobs in the catalog, so the checks above leave none without its consumer.
  return Object.fromEntries(workers) as Record<QueueName, Worker>;
}

function consumerWorker(consumer: QueueConsumer, options: ConsumerOptions): Worker {
  const { queue, concurrency, handlers, settings } = consumer;
  const { connection, prefix, lockDuration, stalledInterval, logger } = options;
  const byName = new Map(handlers.map((handler) => [handler.name as string, handler]));
  // Three declared parameters: BullMQ passes the abort signal only to processors whose `length` is 3.
  const dispatch: Processor = async (job, token, signal) => {
    const handler = byName.get(job.name);
    if (!handler) throw new UnrecoverableError(`no processor for job name "${job.name}"`);
    const payload = JOB_CATALOG[handler.name].payload.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`invalid job payload: ${payload.error.message}`);
    // In memory only: the processor reads the data with the schema's defaults filled in.
    job.data = payload.data;
    await handler.process(job, token, signal);
  };
  const worker = new Worker(queue, dispatch, {
    connection,
    prefix,
    concurrency,
    lockDuration,
    stalledInterval,
    // Started only once the health endpoint listens, so a bad port never strands a taken job.
    autorun: false,
    telemetry: queueTelemetry(),
    ...(settings && { settings }),
  });
  worker.on('error', (err) => logger.error({ err: err.message, queue }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (job) consumer.failed?.(job, err);
  });
  return worker;
}

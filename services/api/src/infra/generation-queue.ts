import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOBS, QUEUES, generationJobOptions, type GenerationJobData } from '@imagegen/shared';

/** The producer side of the generations queue. */
export class GenerationQueue {
  private readonly queue: Queue<GenerationJobData>;

  constructor(
    private readonly connection: Redis,
    prefix: string,
  ) {
    this.queue = new Queue<GenerationJobData>(QUEUES.generations, { connection, prefix });
    // The connection's own error listener (server.ts) logs these; without a listener BullMQ
    // prints every reconnect failure to the console.
    this.queue.on('error', () => undefined);
  }

  async enqueue(generationId: string): Promise<void> {
    // BullMQ waits, without bound, for a connection that has never been ready: refuse at once so
    // the request can answer 503 instead of hanging.
    if (this.connection.status !== 'ready') throw new Error(`Redis is not ready (${this.connection.status})`);
    await this.queue.add(JOBS.generationCreate, { generationId }, generationJobOptions(generationId));
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

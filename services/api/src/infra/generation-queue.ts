import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOBS, QUEUES, generationJobOptions, type GenerationJobData } from '@imagegen/shared';

/** The producer side of the generations queue. */
export class GenerationQueue {
  private readonly queue: Queue<GenerationJobData>;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue<GenerationJobData>(QUEUES.generations, { connection, prefix });
  }

  async enqueue(generationId: string): Promise<void> {
    await this.queue.add(JOBS.generationCreate, { generationId }, generationJobOptions(generationId));
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

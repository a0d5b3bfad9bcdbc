import { QUEUES, generationJobId } from '@imagegen/shared';
import type { JobQueues } from '@imagegen/core';

/** What becomes of a generation's jobs beyond queueing them (`PendingRuns` does that). */
export class GenerationJobs {
  constructor(private readonly jobs: JobQueues) {}

  /** Drops the finished job of an earlier run, so the dashboard does not list it as still failed. */
  async forget(generationId: string, run: number): Promise<void> {
    await this.jobs
      .queue(QUEUES.generations)
      .remove(generationJobId(generationId, run))
      .catch(() => undefined);
  }
}

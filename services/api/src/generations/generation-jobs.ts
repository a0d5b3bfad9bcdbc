import { generationJobId, type DeadlineJobData, type GenerationJobData } from '@imagegen/shared';
import { scheduleRun, type GenerationDocument } from '@imagegen/core';
import type { JobQueue } from '../infra/job-queue';

/** The jobs a pending generation needs: its run, and its deadline if it has one. */
export class GenerationJobs {
  constructor(
    readonly runs: JobQueue<GenerationJobData>,
    private readonly deadlines: JobQueue<DeadlineJobData>,
  ) {}

  /** Queues the generation's current run (and its deadline), or answers 503 at once when Redis is away. */
  schedule(doc: GenerationDocument): Promise<void> {
    return scheduleRun(this.runs, this.deadlines, doc);
  }

  /** Drops the finished job of an earlier run, so the dashboard does not list it as still failed. */
  async forget(generationId: string, run: number): Promise<void> {
    await this.runs.queue.remove(generationJobId(generationId, run)).catch(() => undefined);
  }
}

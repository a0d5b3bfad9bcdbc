import {
  JOBS,
  deadlineJobOptions,
  generationJobId,
  generationJobOptions,
  type DeadlineJobData,
  type GenerationDocument,
  type GenerationJobData,
} from '@imagegen/shared';
import type { JobQueue } from '../infra/job-queue';

/** The jobs a pending generation needs: its run, and its deadline if it has one. */
export class GenerationJobs {
  constructor(
    readonly runs: JobQueue<GenerationJobData>,
    private readonly deadlines: JobQueue<DeadlineJobData>,
  ) {}

  /** Queues the generation's current run (and its deadline). */
  async schedule(doc: GenerationDocument): Promise<void> {
    const generationId = doc._id.toHexString();
    await this.scheduleDeadline(doc);
    await this.runs.add(
      JOBS.generationCreate,
      { generationId, run: doc.run },
      generationJobOptions(generationId, doc.run),
    );
  }

  /** Drops the finished job of an earlier run, so the dashboard does not list it as still failed. */
  async forget(generationId: string, run: number): Promise<void> {
    await this.runs.queue.remove(generationJobId(generationId, run)).catch(() => undefined);
  }

  // Before the run, so that no run can start without the deadline that bounds it.
  private async scheduleDeadline(doc: GenerationDocument): Promise<void> {
    if (!doc.deadline_at) return;
    const generationId = doc._id.toHexString();
    await this.deadlines.add(
      JOBS.generationDeadline,
      { generationId, deadlineAt: doc.deadline_at.toISOString() },
      deadlineJobOptions(generationId, doc.run, doc.deadline_at),
    );
  }
}

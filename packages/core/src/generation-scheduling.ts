import { JOBS, type GenerationJobData } from '@imagegen/shared';
import type { GenerationDocument } from './db';
import type { JobEnqueuer } from './jobs/job-queues';

/**
 * Queues a pending generation's current run, and its deadline if it has one, for the API (a new or
 * retried generation) and the worker's reconciler (a run whose job was lost) alike. Job ids name
 * the generation and run, so scheduling a run twice adds its jobs once.
 */
export async function scheduleRun(jobs: JobEnqueuer, doc: GenerationDocument): Promise<void> {
  const generationId = doc._id.toHexString();
  // The deadline first, so that no run can start without the deadline that bounds it.
  if (doc.deadline_at) {
    await jobs.enqueue(
      JOBS.generationDeadline,
      { generationId, deadlineAt: doc.deadline_at.toISOString() },
      { run: doc.run },
    );
  }
  await jobs.enqueue(JOBS.generationCreate, generationJobData(doc));
}

/**
 * The job of `doc`'s run. Its revision goes with it only while the record is pending: the worker
 * moves that revision to processing once it holds its claim, without checking it (see
 * `GenerationStore.start`), so a revision in any other state must never reach a job.
 */
export function generationJobData(doc: GenerationDocument): GenerationJobData {
  const pending = doc.status === 'pending' && doc.rev !== undefined;
  return { generationId: doc._id.toHexString(), run: doc.run, ...(pending && { rev: doc.rev }) };
}

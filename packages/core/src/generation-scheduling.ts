import type { GenerationDocument } from './db';
import {
  JOBS,
  deadlineJobOptions,
  generationJobOptions,
  type DeadlineJobData,
  type GenerationJobData,
} from '@imagegen/shared';

/** What scheduling needs of a queue: BullMQ's `Queue.add` fits. */
export interface JobAdder<Data> {
  add(name: string, data: Data, options: object): Promise<unknown>;
}

/**
 * Queues a pending generation's current run, and its deadline if it has one, for the API (a new or
 * retried generation) and the worker's reconciler (a run whose job was lost) alike. Job ids name
 * the generation and run, so scheduling a run twice adds its jobs once.
 */
export async function scheduleRun(
  runs: JobAdder<GenerationJobData>,
  deadlines: JobAdder<DeadlineJobData>,
  doc: GenerationDocument,
): Promise<void> {
  const generationId = doc._id.toHexString();
  // The deadline first, so that no run can start without the deadline that bounds it.
  if (doc.deadline_at) {
    await deadlines.add(
      JOBS.generationDeadline,
      { generationId, deadlineAt: doc.deadline_at.toISOString() },
      deadlineJobOptions(generationId, doc.run, doc.deadline_at),
    );
  }
  await runs.add(JOBS.generationCreate, { generationId, run: doc.run }, generationJobOptions(generationId, doc.run));
}

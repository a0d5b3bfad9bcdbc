import type { GenerationDocument } from '../db';
import { scheduleRun } from '../generation-scheduling';
import type { JobEnqueuer } from '../jobs/job-queues';
import type { GenerationLifecycle } from './generation-lifecycle';

/**
 * How a pending run gets onto the queue, whoever made it pending: a create, a retry, or the
 * reconciler finding its job lost.
 */
export class PendingRuns {
  constructor(
    private readonly lifecycle: GenerationLifecycle,
    private readonly jobs: JobEnqueuer,
  ) {}

  /**
   * Announces the run pending, then queues its jobs; throws when they cannot be queued. Announced
   * before its job exists, so that no worker's `processing` can come before this `pending`. Live
   * streams start from it, but the record is right without it, so an announcement that fails does
   * not hold the job back. `counted`: as for `GenerationLifecycle.queued`.
   */
  async enqueue(doc: GenerationDocument, { counted = false } = {}): Promise<void> {
    await this.lifecycle.queued(doc, { counted }).catch(() => undefined);
    await scheduleRun(this.jobs, doc);
  }
}

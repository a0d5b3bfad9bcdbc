import type { RedisClient } from '../connections';
import type { GenerationDocument } from '../db';
import { scheduleRun } from '../generation-scheduling';
import type { JobEnqueuer } from '../jobs/job-queues';
import type { GenerationLifecycle } from './generation-lifecycle';

/**
 * How a pending run gets onto the queue, whoever made it pending: a create, a retry, or the
 * reconciler finding its job lost.
 */
export class PendingRuns {
  /**
   * `shared`: the Redis connection that both the lifecycle's events and the jobs are written on.
   * Redis runs one connection's commands in the order they were sent, and `GenerationEvents`
   * sends its command before its call returns, so the announcement need not be answered before
   * the jobs are sent: one round trip instead of two.
   */
  constructor(
    private readonly lifecycle: GenerationLifecycle,
    private readonly jobs: JobEnqueuer,
    private readonly shared?: RedisClient,
  ) {}

  /**
   * Announces the run pending, then queues its jobs; throws when they cannot be queued. Announced
   * before its job exists, so that no worker's `processing` can come before this `pending`. Live
   * streams start from it, but the record is right without it, so an announcement that fails does
   * not hold the job back. `counted`: as for `GenerationLifecycle.queued`.
   */
  async enqueue(doc: GenerationDocument, { counted = false } = {}): Promise<void> {
    // Both leave in one write: BullMQ sends the job's command a few promise steps after the
    // announcement, in the same turn, and `oneWritePerTurn` holds the connection's commands of a
    // turn until its end. On a cluster both go down one node's connection, in order, since their
    // keys share the prefix's slot.
    const announced = this.lifecycle.queued(doc, { counted }).catch(() => undefined);
    if (!this.shared) await announced;
    try {
      await scheduleRun(this.jobs, doc);
    } finally {
      await announced;
    }
  }
}

import type { RedisClient } from '../connections';
import type { ObjectId } from 'mongodb';
import { type CancelReason, cancelChannel, generationJobId } from '@imagegen/shared';
import type { GenerationDocument } from '../db';
import type { GenerationLifecycle } from './generation-lifecycle';
import type { CancelScope, GenerationStore } from './generation-store';

/** What the canceller needs of the generations queue: BullMQ's `Queue.remove` fits. */
export interface RemovableJobs {
  remove(jobId: string): Promise<unknown>;
}

/**
 * Cancels a generation still in flight, for its owner (API) or its deadline (worker): the record
 * becomes `canceled` first, so a late answer from Hugging Face can no longer complete it; then the
 * worker running it is told to abort, a job still waiting is dropped, and the change is announced.
 */
export class GenerationCanceller {
  constructor(
    private readonly store: GenerationStore,
    private readonly redis: RedisClient,
    private readonly queuePrefix: string,
    private readonly jobs: RemovableJobs,
    private readonly lifecycle: GenerationLifecycle,
  ) {}

  /**
   * The canceled record, or null when it had already ended (or is not the one `scope` names). A record
   * found canceled already has what follows the cancel done again (each step is idempotent), so a
   * cancel cut short after its write (Redis away) is finished by the next attempt.
   */
  async cancel(id: ObjectId, reason: CancelReason, scope: CancelScope = {}): Promise<GenerationDocument | null> {
    const canceled = await this.store.cancel(id, reason, scope);
    const settled = canceled ?? (await this.store.findCanceled(id, scope));
    if (settled) await this.followUp(settled);
    return canceled;
  }

  private async followUp(canceled: GenerationDocument): Promise<void> {
    const jobId = generationJobId(canceled._id.toHexString(), canceled.run);
    // The worker running the run's job, whichever it is, aborts it.
    await this.redis.publish(cancelChannel(this.queuePrefix), jobId);
    // A job that a worker holds cannot be removed; the abort above ends it instead.
    await this.jobs.remove(jobId).catch(() => undefined);
    await this.lifecycle.ended(canceled);
  }
}

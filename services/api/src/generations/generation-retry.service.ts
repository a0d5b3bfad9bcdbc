import type { GenerationDocument, GenerationLifecycle } from '@imagegen/shared';
import { ConflictError } from '../errors';
import type { GenerationJobs } from './generation-jobs';
import type { GenerationRepository } from './generation.repository';

/** What can be run again: an ended generation that did not complete. */
const RETRIABLE = new Set(['failed', 'canceled']);

/**
 * Runs a failed or canceled generation again, as a new run with a job of its own. The record goes
 * back to `pending` first (the ended run kept in `history`), then the run's job is queued, so a
 * worker taking it always finds a record to work on, clients never see a stale `failed`, and the
 * old run's job, whatever state it is still in, can no longer touch the record.
 */
export class GenerationRetryService {
  constructor(
    private readonly generations: GenerationRepository,
    private readonly jobs: GenerationJobs,
    private readonly lifecycle: GenerationLifecycle,
  ) {}

  async retry(generation: GenerationDocument): Promise<GenerationDocument> {
    if (!RETRIABLE.has(generation.status)) {
      throw new ConflictError(`Only a failed or canceled generation can be retried; this one is ${generation.status}`);
    }
    const at = new Date();
    const reopened = await this.generations.reopen(generation, at);
    if (!reopened) throw new ConflictError('The generation changed meanwhile; fetch it and try again');
    // Before the job exists, so that no worker's `processing` can come before this `pending`.
    await this.lifecycle.queued(reopened).catch(() => undefined);
    try {
      await this.jobs.schedule(reopened);
    } catch (err) {
      await this.generations.restore(generation, reopened);
      throw err;
    }
    await this.jobs.forget(reopened._id.toHexString(), generation.run);
    return reopened;
  }
}

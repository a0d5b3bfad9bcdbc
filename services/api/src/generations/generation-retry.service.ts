import { MAX_RUNS } from '@imagegen/shared';
import type { GenerationDocument, GenerationStore, PendingRuns } from '@imagegen/core';
import { ConflictError } from '../errors';
import type { CreateLimits } from './create-limits';
import type { GenerationJobs } from './generation-jobs';

/** What can be run again: an ended generation that did not complete. */
const RETRIABLE = new Set(['failed', 'canceled']);

/**
 * Runs a failed or canceled generation again, as a new run with a job of its own. A run costs what
 * a create costs (provider calls), so it takes a place among its owner's generations in flight as
 * a create does (429 at the cap), and a generation has at most MAX_RUNS runs (409 after them): a
 * cancel/retry loop otherwise ran one generation without end, past the cap. The record goes back
 * to `pending` first (the ended run kept in `history`), then the run's job is queued, so a worker
 * taking it always finds a record to work on, clients never see a stale `failed`, and the old
 * run's job, whatever state it is still in, can no longer touch the record.
 */
export class GenerationRetryService {
  constructor(
    private readonly store: GenerationStore,
    private readonly pending: PendingRuns,
    private readonly jobs: GenerationJobs,
    private readonly limits: CreateLimits,
  ) {}

  async retry(generation: GenerationDocument): Promise<GenerationDocument> {
    if (!RETRIABLE.has(generation.status)) {
      throw new ConflictError(`Only a failed or canceled generation can be retried; this one is ${generation.status}`);
    }
    // Counted by the runs that happened (`history`), not by `run`, which a run that could not be
    // queued also moved on.
    if (generation.history.length + 1 >= MAX_RUNS) {
      throw new ConflictError(
        `This generation has had ${MAX_RUNS} runs, the most one may have; create a new generation instead`,
      );
    }
    return this.run(generation);
  }

  /**
   * Reopens the record, then counts it in flight: counted first, its record would still say it
   * ended, and a create or retry at the cap meanwhile would take it for one whose end was not yet
   * counted and drop it (CreateLimits.reserveInFlight). Refused there, the record is put back as
   * it was: nothing was announced and no job queued (only a read in between saw it pending).
   */
  private async run(generation: GenerationDocument): Promise<GenerationDocument> {
    const reopened = await this.store.reopen(generation, new Date());
    if (!reopened) throw new ConflictError('The generation changed meanwhile; fetch it and try again');
    try {
      await this.limits.reserveInFlight(reopened.user_id, reopened._id);
    } catch (err) {
      await this.store.restore(generation, reopened);
      throw err;
    }
    try {
      await this.pending.enqueue(reopened, { counted: true });
    } catch (err) {
      await this.store.restore(generation, reopened);
      await this.limits.release(reopened.user_id, reopened._id);
      throw err;
    }
    await this.jobs.forget(reopened._id.toHexString(), generation.run);
    return reopened;
  }
}

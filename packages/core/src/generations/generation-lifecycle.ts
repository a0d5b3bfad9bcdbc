import type { GenerationDocument } from '../db';
import type { GenerationEvents } from '../generation-events';
import type { InFlightGenerations } from '../in-flight';
import { toSummary } from '../generation-view';
import type { QuotaLedger } from '../usage/quota-ledger';
import type { WebhookNotifier } from '../webhook-notifier';

/**
 * What follows a generation's change of state, wherever it happens (API or worker): an event on
 * its live stream, the webhooks it asked for, its owner's set of generations in flight, and the
 * images a failed or canceled run was charged against its owner's quota. Safe to call twice for
 * one change (BullMQ runs a job at least once): webhooks are deduplicated, a repeated event only
 * repeats a state, and a charge is given back once (QuotaLedger).
 */
export class GenerationLifecycle {
  constructor(
    private readonly events: GenerationEvents,
    private readonly webhooks: WebhookNotifier,
    private readonly inFlight: InFlightGenerations,
    private readonly publicBaseUrl: string,
    /** Absent where nothing counts quotas (tests of other parts). */
    private readonly quota?: Pick<QuotaLedger, 'giveBack'>,
  ) {}

  /**
   * Now pending (created, retried, or handed back by a stopping worker). `counted`: the generation
   * already holds its place among its owner's in flight, as a create reserves it before writing.
   */
  async queued(generation: GenerationDocument, { counted = false } = {}): Promise<void> {
    if (counted) return this.status(generation);
    await Promise.all([this.status(generation), this.inFlight.add(generation.user_id, generation._id)]);
  }

  async started(generation: GenerationDocument): Promise<void> {
    await this.status(generation);
    await this.webhooks.started(generation);
  }

  async ended(generation: GenerationDocument): Promise<void> {
    await Promise.all([
      this.status(generation),
      this.inFlight.remove(generation.user_id, generation._id),
      this.quota?.giveBack(generation),
    ]);
    await this.webhooks.ended(generation);
  }

  /** A wait within a run, e.g. a cold start. */
  async notice(generationId: string, message: string, retryInMs: number | null): Promise<void> {
    const retry_in_seconds = retryInMs === null ? null : Math.round(retryInMs / 100) / 10;
    await this.events.append(generationId, { type: 'notice', message, retry_in_seconds });
  }

  /** Tagged with its run, where a new connection to the stream starts (`GenerationEvents.runStart`). */
  private status(generation: GenerationDocument): Promise<void> {
    return this.events.append(
      generation._id.toHexString(),
      { type: 'status', status: generation.status, generation: toSummary(generation, this.publicBaseUrl) },
      generation.run,
    );
  }
}

import type { Queue } from 'bullmq';
import type { RedisClient } from '@imagegen/core';
import { generationJobId } from '@imagegen/shared';
import type {
  GenerationCanceller,
  GenerationDocument,
  GenerationLifecycle,
  GenerationStore,
  Logger,
  PendingRuns,
} from '@imagegen/core';
import type { GenerationRepository } from '../generations/generation.repository';
import { INTERNAL_ERROR } from '../final-failure';
import type { LostWebhooks, WebhookOutcome } from './lost-webhooks';

export interface ReconcilerOptions {
  /** How often a pass runs (one worker's, across all of them). */
  intervalMs: number;
  /** A run in flight is looked at once its record has not changed for this long. */
  staleAfterMs: number;
  /** Records looked at per pass, oldest first; the rest wait for the next pass. */
  batch: number;
}

export type Outcome = 'requeued' | 'failed' | 'canceled' | 'running' | 'moved' | 'error';

/** What a pass did to generations, by outcome, and to webhook messages whose job was lost. */
export type PassCounts = Record<Outcome, number> & { webhooks: Record<WebhookOutcome, number> };

/**
 * Finds generations in flight whose job no longer exists, or ended without its record following,
 * and puts them right: a 202 must never stay pending forever. Webhook messages whose job was lost
 * are put right in the same pass (LostWebhooks). A job goes missing when the API
 * stopped between writing a record and queueing its job, or when Redis lost its data (a restart
 * without persistence); a job fails without its record when MongoDB was away at that moment.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: {
      generations: GenerationRepository;
      store: GenerationStore;
      pending: PendingRuns;
      runs: Queue;
      lifecycle: GenerationLifecycle;
      canceller: GenerationCanceller;
      webhooks: LostWebhooks;
      redis: RedisClient;
      queuePrefix: string;
      logger: Logger;
    },
    private readonly options: ReconcilerOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.pass().catch((err: unknown) =>
        this.deps.logger.warn({ err: (err as Error).message }, 'reconciliation pass failed'),
      );
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass, unless another worker's ran within the interval; what it did to each record, by outcome. */
  async pass(): Promise<PassCounts | null> {
    const lock = `${this.deps.queuePrefix}:reconciler`;
    if ((await this.deps.redis.set(lock, process.pid, 'PX', this.options.intervalMs, 'NX')) !== 'OK') return null;
    const counts: Record<Outcome, number> = { requeued: 0, failed: 0, canceled: 0, running: 0, moved: 0, error: 0 };
    const before = new Date(Date.now() - this.options.staleAfterMs);
    for (const doc of await this.deps.generations.stale(before, this.options.batch)) {
      // One record that cannot be put right now does not stop the others; the next pass tries again.
      const outcome = await this.reconcile(doc).catch((err: unknown) => {
        this.deps.logger.warn(
          { generationId: doc._id.toHexString(), err: (err as Error).message },
          'could not reconcile',
        );
        return 'error' as const;
      });
      counts[outcome]++;
    }
    if (counts.requeued || counts.failed || counts.canceled) {
      this.deps.logger.warn(counts, 'reconciled generations whose job was lost');
    }
    return { ...counts, webhooks: await this.deps.webhooks.pass(before, this.options.batch) };
  }

  private async reconcile(doc: GenerationDocument): Promise<Outcome> {
    // Past its deadline, it is canceled whatever became of its jobs (its deadline job may be lost too).
    if (doc.deadline_at && doc.deadline_at.getTime() <= Date.now()) {
      const canceled = await this.deps.canceller.cancel(doc._id, 'deadline', { run: doc.run });
      return canceled ? 'canceled' : 'moved';
    }
    const job = await this.deps.runs.getJob(generationJobId(doc._id.toHexString(), doc.run));
    const state = job ? await job.getState() : 'unknown';
    if (state === 'failed') return this.fail(doc);
    if (state === 'completed') {
      // The job ended without its record following (its last write was lost): run it again.
      await job?.remove();
      return this.requeue(doc);
    }
    return state === 'unknown' ? this.requeue(doc) : 'running';
  }

  private async requeue(doc: GenerationDocument): Promise<Outcome> {
    const pending = await this.deps.store.requeue(doc);
    if (!pending) return 'moved';
    await this.deps.pending.enqueue(pending);
    this.deps.logger.warn(
      { generationId: doc._id.toHexString(), run: doc.run, was: doc.status },
      'requeued a lost job',
    );
    return 'requeued';
  }

  /** Its job failed for good, but the record never heard (MongoDB was away when it did). */
  private async fail(doc: GenerationDocument): Promise<Outcome> {
    const failed = await this.deps.store.fail(doc._id, doc.run, INTERNAL_ERROR);
    if (!failed) return 'moved';
    await this.deps.lifecycle.ended(failed);
    return 'failed';
  }
}

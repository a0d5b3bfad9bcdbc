import type { Db } from 'mongodb';
import type { ServingProvider } from '@imagegen/shared';
import { COLLECTIONS, isDuplicateKey, type GenerationDocument, type UsageDocument } from '../db';
import { InsertBatches } from '../insert-batches';
import { utcDay } from './quota-periods';

/** How one run of a generation ended, as far as spending goes. */
export interface RunUsage {
  /** The record as the run left it (its run number, owner, model). */
  generation: GenerationDocument;
  outcome: 'completed' | 'failed' | 'canceled';
  /** Who served the run; null when no provider was reached. */
  provider: ServingProvider | null;
  /** Images stored: all asked for when completed, else 0 (an image that fails does not count). */
  images: number;
  /** Time spent waiting on the provider(s), in ms. */
  providerMs: number;
}

/**
 * A usage document as the log writes it: with its UTC day (`YYYY-MM-DD` of `at`), which the usage
 * reports group by. FerretDB's `$group` takes field paths only (no `$dateToString`), so the day is
 * written rather than worked out from `at`.
 */
export interface UsageRecord extends UsageDocument {
  day: string;
}

/**
 * One `usage` document per run of a generation, written by the worker as the run ends. Its `_id`
 * is the generation's id and run, so a job delivered twice records its run once.
 */
export class UsageLog {
  /** The runs that end in one turn record theirs together (InsertBatches). */
  private readonly inserts: InsertBatches<UsageRecord>;

  constructor(db: Db) {
    this.inserts = new InsertBatches(db.collection<UsageRecord>(COLLECTIONS.usage));
  }

  async record({ generation, outcome, provider, images, providerMs }: RunUsage): Promise<void> {
    const at = new Date();
    try {
      await this.inserts.insert({
        _id: `${generation._id.toHexString()}:${generation.run}`,
        user_id: generation.user_id,
        generation_id: generation._id,
        run: generation.run,
        model: generation.settings.model,
        provider,
        images,
        provider_ms: Math.round(providerMs),
        outcome,
        at,
        day: utcDay(at),
      });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }
}

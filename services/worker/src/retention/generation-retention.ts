import type { Db } from 'mongodb';
import { COLLECTIONS, type GenerationDocument } from '@imagegen/core';
import { before, type SweepTask } from './sweep-task';

/** Deletes generations whole: records, images, events, webhook log and jobs (GenerationDeleter). */
export interface GenerationRemover {
  deleteMany(docs: GenerationDocument[]): Promise<void>;
}

/** A generation in flight is never due, however old: only these statuses are. */
const ENDED = ['completed', 'failed', 'canceled'] as const;

/** RETENTION_GENERATIONS_DAYS: deletes ended generations whose record has not changed for longer than the limit. */
export class GenerationRetention implements SweepTask {
  readonly kind = 'generations';
  private readonly generations;

  constructor(
    db: Db,
    private readonly remover: GenerationRemover,
    private readonly afterMs: number,
    private readonly batch: number,
  ) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
  }

  async run(now: Date): Promise<number> {
    const due = await this.generations
      .find({ status: { $in: [...ENDED] }, updated_at: { $lt: before(now, this.afterMs) } })
      .limit(this.batch)
      .toArray();
    // The batch in one go: one query per collection for all of it, where one per generation would
    // each scan the collection on FerretDB. Every step is a no-op once done, so a batch cut short
    // is finished by the next pass, which finds its records again.
    if (due.length > 0) await this.remover.deleteMany(due);
    return due.length;
  }
}

import { ObjectId, type Collection, type Db } from 'mongodb';
import { imagesAsked, type GenerationStatus } from '@imagegen/shared';
import {
  COLLECTIONS,
  chargeOf,
  runStartedAt,
  type GenerationDocument,
  type PeriodCount,
  type QuotaPeriod,
  type UsageRecord,
} from '@imagegen/core';

/** Runs that end so have given their images back. */
const GIVEN_BACK: readonly GenerationStatus[] = ['failed', 'canceled'];
const IN_FLIGHT: readonly GenerationStatus[] = ['pending', 'processing'];

const within = (at: Date, period: QuotaPeriod) => at >= period.start && at < period.end;

/**
 * What the quota counters in Redis are rebuilt from when one is missing (a new period, or Redis
 * lost it): the records in MongoDB.
 *
 * The generations are the source, not the usage records: a counter holds what was charged when a
 * run began (at its create or retry) and not given back, and a generation's current run says just
 * that at every moment — charged in the period its run began, given back once it ended failed or
 * canceled, still held while in flight. The usage records are written only as runs end, a moment
 * after the record (or never, if the worker stops in between), and date a run by its end; counting
 * from them would miss every run in flight and move runs across midnight. They serve one case the
 * generations cannot: a completed generation deleted since, whose images were spent all the same.
 */
export class QuotaRecords {
  private readonly generations: Collection<GenerationDocument>;
  private readonly usage: Collection<UsageRecord>;

  constructor(db: Db) {
    this.generations = db.collection<GenerationDocument>(COLLECTIONS.generations);
    this.usage = db.collection<UsageRecord>(COLLECTIONS.usage);
  }

  /**
   * Each period's count for the user: the images of the runs that began in it and did not fail or
   * get canceled, with a charge for each run still in flight (which may yet give its images back).
   */
  async count(userId: ObjectId, periods: QuotaPeriod[]): Promise<PeriodCount[]> {
    const since = new Date(Math.min(...periods.map((p) => p.start.getTime())));
    const until = new Date(Math.max(...periods.map((p) => p.end.getTime())));
    const counts = periods.map((): PeriodCount => ({ used: 0, charges: {} }));
    const add = (at: Date, images: number, charge?: string) =>
      periods.forEach((period, i) => {
        if (!within(at, period)) return;
        counts[i]!.used += images;
        if (charge) counts[i]!.charges[charge] = images;
      });

    // A run's every change moves `updated_at` on, so a run that began in a period left it there or later.
    const docs = await this.generations
      .find(
        { user_id: userId, updated_at: { $gte: since } },
        { projection: { status: 1, run: 1, settings: 1, created_at: 1, history: 1 } },
      )
      .toArray();
    for (const doc of docs) {
      if (GIVEN_BACK.includes(doc.status)) continue;
      const charge = IN_FLIGHT.includes(doc.status) ? chargeOf(doc._id, doc.run) : undefined;
      add(runStartedAt(doc), imagesAsked(doc.settings), charge);
    }

    for (const run of await this.runsOfDeleted(userId, since, until, new Set(docs.map((d) => d._id.toHexString())))) {
      add(run.at, run.images);
    }
    return counts;
  }

  /** Of `charges` (`<generation id>:<run>`), those whose run has ended failed or canceled, or is gone. */
  async ended(charges: string[]): Promise<string[]> {
    if (charges.length === 0) return [];
    const runs = charges.map((charge) => ({ charge, id: charge.slice(0, 24), run: Number(charge.slice(25)) }));
    const docs = await this.generations
      .find({ _id: { $in: runs.map((r) => new ObjectId(r.id)) } }, { projection: { status: 1, run: 1 } })
      .toArray();
    const now = new Map(docs.map((doc) => [doc._id.toHexString(), doc]));
    return runs
      .filter(({ id, run }) => {
        const doc = now.get(id);
        return !doc || doc.run !== run || GIVEN_BACK.includes(doc.status);
      })
      .map((r) => r.charge);
  }

  /** Completed runs in `[since, until)` whose generation no longer exists (`known`: ids that do). */
  private async runsOfDeleted(
    userId: ObjectId,
    since: Date,
    until: Date,
    known: Set<string>,
  ): Promise<Pick<UsageRecord, 'at' | 'images'>[]> {
    const runs = await this.usage
      .find(
        { user_id: userId, at: { $gte: since, $lt: until }, images: { $gt: 0 } },
        { projection: { generation_id: 1, at: 1, images: 1 } },
      )
      .toArray();
    const unknown = runs.filter((run) => !known.has(run.generation_id.toHexString()));
    if (unknown.length === 0) return [];
    // The generation may exist still, changed last before `since`: only a missing one was deleted.
    const existing = await this.generations
      .find({ _id: { $in: unknown.map((run) => run.generation_id) } }, { projection: { _id: 1 } })
      .toArray();
    const exists = new Set(existing.map((doc) => doc._id.toHexString()));
    return unknown.filter((run) => !exists.has(run.generation_id.toHexString()));
  }
}

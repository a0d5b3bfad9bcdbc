import type { ObjectId } from 'mongodb';
import type { QuotaBlock, QuotaLedger, QuotaLimits, QuotaSeeds, QuotaStateAnswer } from '@imagegen/core';
import { ServiceUnavailableError } from '../errors';
import type { UserRepository } from '../users/user.repository';
import type { QuotaRecords } from './quota-records';

/** A script's answer when a hash it needs is missing (`quotaState`). */
export type MissingAnswer = Extract<QuotaStateAnswer, ['missing', ...unknown[]]>;

/** How many times a script is run again with seeds before the create is refused with a 503. */
const MAX_SEEDINGS = 3;

const limitOf = (answered: number) => (answered < 0 ? null : answered);

/**
 * Runs the scripts that count against the image quotas (QUOTA_LUA), rebuilding from MongoDB what
 * they find missing. Most calls find all they need: one round trip. When a hash is missing (the
 * user's first create of a day or month, or Redis lost it), the user's overrides and the period's
 * count are read from the records and passed back as seeds, which the script writes only where
 * still missing, so that concurrent rebuilders on any instance agree on one.
 */
export class QuotaGate {
  constructor(
    private readonly ledger: QuotaLedger,
    private readonly records: QuotaRecords,
    private readonly users: Pick<UserRepository, 'quotaOverrides'>,
    /** QUOTA_IMAGES_PER_DAY and QUOTA_IMAGES_PER_MONTH. */
    readonly defaults: QuotaLimits,
  ) {}

  /**
   * `script`'s answer once it had what it needs, and the block it ran with. `all`: both periods are
   * counted whatever their limits (to read their state).
   */
  async run<A extends readonly unknown[]>(
    userId: ObjectId,
    script: (block: QuotaBlock) => Promise<A | MissingAnswer>,
    { all = false } = {},
  ): Promise<{ answer: A; block: QuotaBlock }> {
    // One time for every attempt, so that seeds always go to the periods they were counted for.
    const now = new Date();
    let seeds: QuotaSeeds = {};
    for (let seeded = 0; ; seeded++) {
      const block = this.ledger.block(userId, now, this.defaults, seeds, all);
      const answer = await script(block);
      if (answer[0] !== 'missing') {
        await this.settle(userId, seeds, now);
        return { answer: answer as A, block };
      }
      if (seeded === MAX_SEEDINGS) {
        throw new ServiceUnavailableError('Image quotas cannot be counted right now; retry shortly');
      }
      seeds = await this.seeds(userId, answer as MissingAnswer, block, all);
    }
  }

  /** What `missing` asks for, read from MongoDB. */
  private async seeds(userId: ObjectId, missing: MissingAnswer, block: QuotaBlock, all: boolean): Promise<QuotaSeeds> {
    const [, known, dayLimit, monthLimit, dayCounted, monthCounted] = missing;
    let limits: QuotaLimits = { day: limitOf(dayLimit), month: limitOf(monthLimit) };
    let overrides: QuotaLimits | undefined;
    if (!known) {
      const user = await this.users.quotaOverrides(userId);
      overrides = { day: user.images_per_day, month: user.images_per_month };
      limits = { day: overrides.day ?? this.defaults.day, month: overrides.month ?? this.defaults.month };
    }
    const needDay = !dayCounted && (all || limits.day !== null);
    const needMonth = !monthCounted && (all || limits.month !== null);
    const periods = [...(needDay ? [block.periods.day] : []), ...(needMonth ? [block.periods.month] : [])];
    const counts = periods.length > 0 ? await this.records.count(userId, periods) : [];
    return {
      ...(overrides && { overrides }),
      ...(needDay && { day: counts[0] }),
      ...(needMonth && { month: counts.at(-1) }),
    };
  }

  /**
   * A run in flight when its count was read may have ended failed or canceled before the count
   * was written, giving back to a hash that was not there yet: its charge is given back now. A
   * run that ends after this read finds its charge written, and gives it back itself.
   */
  private async settle(userId: ObjectId, seeds: QuotaSeeds, now: Date): Promise<void> {
    const charges = Object.keys({ ...seeds.day?.charges, ...seeds.month?.charges });
    for (const charge of await this.records.ended(charges)) await this.ledger.release(userId, charge, now);
  }
}

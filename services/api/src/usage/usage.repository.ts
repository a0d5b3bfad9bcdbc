import type { Collection, Db, Document, Filter, ObjectId } from 'mongodb';
import type { ServingProvider } from '@imagegen/shared';
import { COLLECTIONS, type UsageRecord } from '@imagegen/core';

/** The runs of one day, model, provider and outcome, summed. */
export interface UsageRow {
  day: string;
  model: string;
  provider: ServingProvider | null;
  outcome: UsageRecord['outcome'];
  images: number;
  runs: number;
  provider_ms: number;
}

/** The runs that ended in `[since, until)`, of one user or of everyone. */
export interface UsageScope {
  since: Date;
  until: Date;
  userId?: ObjectId;
}

type GroupKey = Pick<UsageRow, 'day' | 'model' | 'provider' | 'outcome'>;

const ROW_KEY = { day: '$day', model: '$model', provider: '$provider', outcome: '$outcome' };
/** What each row sums: images, runs (1 each), time at the provider. */
const ROW_SUMS = ['$images', 1, '$provider_ms'];

/**
 * The usage records (UsageLog), summed in MongoDB with what FerretDB also runs: `$match`, `$group`
 * on field paths, `$sort`, `$limit`. FerretDB v1 computes only the first accumulator of a `$group`
 * (measured on v1.24: a second `$sum` comes back 0), so each sum is a pipeline of its own.
 */
export class UsageRepository {
  private readonly usage: Collection<UsageRecord>;

  constructor(db: Db) {
    this.usage = db.collection<UsageRecord>(COLLECTIONS.usage);
  }

  /** The runs in scope, summed per day, model, provider and outcome. */
  async rows(scope: UsageScope): Promise<UsageRow[]> {
    const [images, runs, providerMs] = await Promise.all(
      ROW_SUMS.map((sum) => this.sum<GroupKey>(scope, ROW_KEY, sum)),
    );
    const rows = new Map<string, UsageRow>();
    const rowOf = ({ day, model, provider, outcome }: GroupKey) => {
      const key = JSON.stringify([day, model, provider, outcome]);
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { day, model, provider, outcome, images: 0, runs: 0, provider_ms: 0 }));
      return row;
    };
    for (const { _id, total } of images!) rowOf(_id).images = total;
    for (const { _id, total } of runs!) rowOf(_id).runs = total;
    for (const { _id, total } of providerMs!) rowOf(_id).provider_ms = total;
    return [...rows.values()];
  }

  /** The `limit` users with the most images in scope, most first. */
  topUsers(scope: UsageScope, limit: number): Promise<Array<{ _id: ObjectId; total: number }>> {
    return this.sum<ObjectId>(scope, '$user_id', '$images', [{ $sort: { total: -1, _id: 1 } }, { $limit: limit }]);
  }

  private sum<K>(
    { since, until, userId }: UsageScope,
    key: Document | string,
    sum: string | number,
    then: Document[] = [],
  ): Promise<Array<{ _id: K; total: number }>> {
    const match: Filter<UsageRecord> = { at: { $gte: since, $lt: until }, ...(userId && { user_id: userId }) };
    return this.usage
      .aggregate<{ _id: K; total: number }>([
        { $match: match },
        { $group: { _id: key, total: { $sum: sum } } },
        ...then,
      ])
      .toArray();
  }
}

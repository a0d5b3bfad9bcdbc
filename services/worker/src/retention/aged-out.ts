import type { Collection, Document, Filter } from 'mongodb';
import { deleteByIds } from './delete-by-ids';
import { before, type RetentionKind, type SweepTask } from './sweep-task';

/**
 * Removes, one batch a pass, the documents of a collection whose `field` (a date, indexed) is
 * older than `ageMs`, among those that also match `only`. Found by date, deleted by id: what was
 * found due stays due, as `only` must name states a document never leaves.
 */
export class AgedOut<D extends Document & { _id: unknown }> implements SweepTask {
  constructor(
    readonly kind: RetentionKind,
    private readonly collection: Collection<D>,
    private readonly field: keyof D & string,
    private readonly ageMs: number,
    private readonly batch: number,
    private readonly only: Filter<D> = {},
  ) {}

  async run(now: Date): Promise<number> {
    const filter = { ...this.only, [this.field]: { $lt: before(now, this.ageMs) } } as Filter<D>;
    const due = await this.collection
      .find(filter, { projection: { _id: 1 } })
      .limit(this.batch)
      .toArray();
    return deleteByIds(
      this.collection,
      due.map((doc) => doc._id as D['_id']),
    );
  }
}

import type { Db } from 'mongodb';
import { IDEMPOTENCY_WINDOW_MS } from '@imagegen/shared';
import { COLLECTIONS, type IdempotencyKeyDocument } from '@imagegen/core';
import { deleteByIds } from './delete-by-ids';
import { before, type SweepTask } from './sweep-task';

/**
 * Removes idempotency keys past their window, always. The API already drops a user's expired keys
 * when that user claims a new one; the keys of users who stop sending requests are left for this.
 */
export class IdempotencyKeyRetention implements SweepTask {
  readonly kind = 'idempotency_keys';
  private readonly keys;

  constructor(
    db: Db,
    private readonly batch: number,
  ) {
    this.keys = db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys);
  }

  async run(now: Date): Promise<number> {
    const due = await this.keys
      .find({ created_at: { $lt: before(now, IDEMPOTENCY_WINDOW_MS) } }, { projection: { _id: 1 } })
      .limit(this.batch)
      .toArray();
    return deleteByIds(
      this.keys,
      due.map((key) => key._id),
    );
  }
}

import type { Collection, Document, Filter } from 'mongodb';

/**
 * Deletes the documents of one batch in a single statement. MongoDB serves `_id: {$in}` from its
 * primary key. FerretDB v1 on SQLite scans the collection for it, once; a statement per `_id`
 * would scan once each, as its SQL never matches the expression of its own `_id` index.
 */
export async function deleteByIds<D extends Document & { _id: unknown }>(
  collection: Collection<D>,
  ids: readonly D['_id'][],
): Promise<number> {
  if (ids.length === 0) return 0;
  const { deletedCount } = await collection.deleteMany({ _id: { $in: ids } } as Filter<D>);
  return deletedCount;
}

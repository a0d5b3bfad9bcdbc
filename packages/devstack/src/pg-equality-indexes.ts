/**
 * SQL that lets FerretDB's equality filters use an index on PostgreSQL, and spares its writes the
 * indexes it never reads, run once in each run's database.
 *
 * FerretDB 1.x keeps a collection as a table with one `jsonb` column, `_jsonb`, and an index we
 * declare as a btree over `(_jsonb -> 'field')`. But it pushes `{field: value}` down to SQL as
 * `_jsonb -> 'field' @> value` (containment, not `=`), which a btree cannot serve: every filter,
 * `_id` included, scanned the whole table (measured: `updateOne({_id, run})` 26 ms at 10,000
 * records, `findOne({_id})` of a 1 MB image 94 ms at 200 stored). A GIN index over the same
 * expression does serve `@>`: 1.0 ms and 0.3 ms.
 *
 * So an event trigger gives every btree FerretDB creates a GIN twin over its first field, unless
 * the table has one over that field already: indexes that start alike (ours on generations have
 * three on `user_id` and two on `status`) share it. (A FerretDB process creates indexes one at a
 * time, under its registry's lock, so the check sees those made before.)
 *
 * The btree itself is never read: FerretDB 1.x pushes down nothing but equality, as `@>`, and
 * sorts in SQL only by its own record id (`prepareWhereClause` and `prepareOrderByClause` in its
 * `internal/backends/postgresql/query.go`). Yet every write of a record updated it: on
 * generations, five of them per insert and per update. So a btree that enforces nothing (not
 * unique) is put back as an empty stand-in under its name, `WHERE false`, which no write touches
 * and FerretDB can still drop. A unique one stays: it is what refuses a second `_id` or email.
 *
 * Three planner settings go with it, for this database only:
 * - `enable_seqscan` off: the planner prices a table of large images by its few main pages, not
 *   by the megabytes `->` must unpack from each row, and so scanned it even with the index there.
 *   Queries no index serves still scan, as before.
 * - `plan_cache_mode` forced to custom plans: FerretDB sends the field's name as a parameter
 *   (`_jsonb -> $1`), which matches the index's expression only once the value is planned in.
 * - `jit` off: with scans priced out, a query no index serves looks costly enough to compile to
 *   machine code first, which took 190 ms for a read that runs in 1.
 */
export function equalityIndexSql(database: string): string {
  return `
CREATE FUNCTION imagegen_equality_index() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  -- The field of an index over (_jsonb -> 'field'), first in its definition.
  field_of constant text := '\\(\\(\\(_jsonb -> ''([^'']+)''::text\\)\\)';
  made record;
  field text;
  twin text;
BEGIN
  FOR made IN
    SELECT c.objid::regclass AS idx, i.indrelid::regclass AS tbl, i.indisunique AS is_unique, x.relname,
      pg_get_indexdef(c.objid) AS def
    FROM pg_event_trigger_ddl_commands() c
    JOIN pg_index i ON i.indexrelid = c.objid
    JOIN pg_class x ON x.oid = c.objid
    WHERE c.command_tag = 'CREATE INDEX'
  LOOP
    -- A GIN twin is no btree, and a stand-in's expression is no field: neither goes further.
    CONTINUE WHEN made.def NOT LIKE '% USING btree %';
    field := (regexp_match(made.def, field_of))[1];
    CONTINUE WHEN field IS NULL;
    IF NOT EXISTS (
      SELECT 1 FROM pg_index o JOIN pg_class ox ON ox.oid = o.indexrelid JOIN pg_am am ON am.oid = ox.relam
      WHERE o.indrelid = made.tbl AND am.amname = 'gin'
        AND (regexp_match(pg_get_indexdef(o.indexrelid), field_of))[1] = field
    ) THEN
      twin := left(made.relname, 58) || '_gin';
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb -> %L))', twin, made.tbl, field);
    END IF;
    IF NOT made.is_unique THEN
      EXECUTE format('DROP INDEX %s', made.idx);
      EXECUTE format('CREATE INDEX %I ON %s ((NULL::boolean)) WHERE false', made.relname, made.tbl);
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER imagegen_equality_index ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION imagegen_equality_index();
ALTER DATABASE ${database} SET enable_seqscan TO off;
ALTER DATABASE ${database} SET plan_cache_mode TO force_custom_plan;
ALTER DATABASE ${database} SET jit TO off;
`;
}

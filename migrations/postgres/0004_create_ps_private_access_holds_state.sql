-- The live holds of a key row (see crate::budget::Holds), read by key_budget.sql only for a row
-- whose `usage.holds` is an object. A function rather than a subquery in the statements: a
-- scalar subquery is planned into every place that reads its result, and each copy is set up
-- at every execution even when never run, which made every full statement (failover,
-- refusals, events) about a quarter slower on rows that hold nothing (docs/benchmarks.md).
-- PL/pgSQL, so that its query is planned once per connection.
--   holds: `usage.holds`; now_ms: the database's clock in epoch ms.
--   Returns {"held": the sum of the live holds' amounts, or null when any entry is unreadable
--   (its `amount` or `expiresAt` not a number within a double's range); "live": the entries
--   whose `expiresAt` is after now_ms (null when none), which a write keeps}.
CREATE OR REPLACE FUNCTION ps_private_access_holds_state(holds jsonb, now_ms numeric)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $fn$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'held', CASE WHEN COALESCE(bool_and(e.readable), true) THEN COALESCE(sum(e.amount), 0) END,
      'live', jsonb_object_agg(e.key, e.value) FILTER (WHERE e.amount IS NOT NULL)
    )
    FROM (
      SELECT
        x.key,
        x.value,
        CASE WHEN jsonb_typeof(x.value->'amount') = 'number'
            AND jsonb_typeof(x.value->'expiresAt') = 'number'
          THEN abs((x.value->>'amount')::numeric) <= 1.7976931348623157e308
            AND abs((x.value->>'expiresAt')::numeric) <= 1.7976931348623157e308
          ELSE false
        END AS readable,
        CASE WHEN jsonb_typeof(x.value->'amount') = 'number'
            AND jsonb_typeof(x.value->'expiresAt') = 'number'
          THEN CASE WHEN (x.value->>'expiresAt')::numeric > now_ms
            THEN (x.value->>'amount')::numeric END
        END AS amount
      FROM jsonb_each(holds) x
    ) e
  );
END
$fn$;

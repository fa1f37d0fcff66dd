-- Take one increment back off a key's counters (its data key could not be opened, so the
-- call served nothing). $1 key id, $2 amount, $3 the day and $4 the month it was counted in:
-- a day or month counter that has restarted since counts the new period and keeps its value.
UPDATE ps_private_access_store
SET usage = COALESCE(usage, '{}'::jsonb) || jsonb_build_object(
  'dailyUse', COALESCE((usage->>'dailyUse')::numeric, 0)
    - CASE WHEN usage->>'periodDay' = $3 THEN $2::float8::numeric ELSE 0 END,
  'monthlyUse', COALESCE((usage->>'monthlyUse')::numeric, 0)
    - CASE WHEN usage->>'periodMonth' = $4 THEN $2::float8::numeric ELSE 0 END,
  'totalUse', COALESCE((usage->>'totalUse')::numeric, 0) - $2::float8::numeric
)
WHERE id = $1

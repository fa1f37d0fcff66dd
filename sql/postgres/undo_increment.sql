-- Take one increment back off a key's counters (its data key could not be opened, so the
-- call served nothing). $1 key id, $2 amount.
UPDATE ps_private_access_store
SET usage = COALESCE(usage, '{}'::jsonb) || jsonb_build_object(
  'dailyUse', COALESCE((usage->>'dailyUse')::numeric, 0) - $2::float8::numeric,
  'monthlyUse', COALESCE((usage->>'monthlyUse')::numeric, 0) - $2::float8::numeric,
  'totalUse', COALESCE((usage->>'totalUse')::numeric, 0) - $2::float8::numeric
)
WHERE id = $1

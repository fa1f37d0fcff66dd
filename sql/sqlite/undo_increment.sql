-- Take one increment back off a key's counters (its data key could not be opened, so the
-- call served nothing). ?1 key id, ?2 amount.
UPDATE ps_private_access_store
SET usage = json_set(
  COALESCE(usage, '{}'),
  '$.dailyUse', COALESCE(json_extract(usage, '$.dailyUse'), 0) - ?2,
  '$.monthlyUse', COALESCE(json_extract(usage, '$.monthlyUse'), 0) - ?2,
  '$.totalUse', COALESCE(json_extract(usage, '$.totalUse'), 0) - ?2
)
WHERE id = ?1

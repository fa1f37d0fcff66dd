-- Take one increment back off a key's counters (its data key could not be opened, so the
-- call served nothing). ?1 key id, ?2 amount, ?3 the day and ?4 the month it was counted in:
-- a day or month counter that has restarted since counts the new period and keeps its value.
UPDATE ps_private_access_store
SET usage = json_set(
  COALESCE(usage, '{}'),
  '$.dailyUse', COALESCE(json_extract(usage, '$.dailyUse'), 0)
    - CASE WHEN json_extract(usage, '$.periodDay') = ?3 THEN ?2 ELSE 0 END,
  '$.monthlyUse', COALESCE(json_extract(usage, '$.monthlyUse'), 0)
    - CASE WHEN json_extract(usage, '$.periodMonth') = ?4 THEN ?2 ELSE 0 END,
  '$.totalUse', COALESCE(json_extract(usage, '$.totalUse'), 0) - ?2
)
WHERE id = ?1

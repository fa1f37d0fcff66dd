-- The lean statements' write of the chosen key row `s` from its reading `k` (increment_lean.sql,
-- increment_lean_many.sql): the counters with the amount added, the period, the time stamps;
-- only on a row whose configuration is the one its hint was made for, with no holds and with
-- readable counters. Spliced at /*:lean_set*/; the statement adds its own conditions (room,
-- thresholds) to the WHERE and its RETURNING.
UPDATE ps_private_access_store s
SET usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object(
      'dailyUse', k.day_use,
      'monthlyUse', k.month_use,
      'totalUse', k.total_use,
      'periodDay', k.day,
      'periodMonth', k.month
    ),
    last_used_at = now(),
    updated_at = now()
FROM k
WHERE s.id = k.id
  AND k.same_configuration
  AND NOT k.has_holds
  -- Readable counters only (an unreadable one is NULL here).
  AND k.day_use IS NOT NULL AND k.month_use IS NOT NULL AND k.total_use IS NOT NULL

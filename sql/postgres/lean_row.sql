-- The lean statements' reading of a locked key row `s` in `period` (increment_lean.sql,
-- increment_lean_many.sql): its stored counters by crate::budget::Stored's rule (see
-- key_budget.sql; NULL when unreadable, and then nothing is counted on the lean path), the
-- SHA-256 of its configuration (jsonb text, hex), whether it has holds (a key with holds is
-- decided by increment_budget.sql, which counts them) and which threshold events already
-- fired in this period. Columns of a SELECT list, spliced at /*:lean_row*/.
      CASE WHEN s.usage->>'periodDay' = period.day THEN
        CASE
          WHEN COALESCE(jsonb_typeof(s.usage->'dailyUse'), 'null') = 'null' THEN 0
          WHEN jsonb_typeof(s.usage->'dailyUse') = 'number' THEN
            CASE WHEN abs((s.usage->>'dailyUse')::numeric) <= 1.7976931348623157e308
              THEN (s.usage->>'dailyUse')::numeric END
        END
      ELSE 0 END AS day_stored,
      CASE WHEN s.usage->>'periodMonth' = period.month THEN
        CASE
          WHEN COALESCE(jsonb_typeof(s.usage->'monthlyUse'), 'null') = 'null' THEN 0
          WHEN jsonb_typeof(s.usage->'monthlyUse') = 'number' THEN
            CASE WHEN abs((s.usage->>'monthlyUse')::numeric) <= 1.7976931348623157e308
              THEN (s.usage->>'monthlyUse')::numeric END
        END
      ELSE 0 END AS month_stored,
      CASE
        WHEN COALESCE(jsonb_typeof(s.usage->'totalUse'), 'null') = 'null' THEN 0
        WHEN jsonb_typeof(s.usage->'totalUse') = 'number' THEN
          CASE WHEN abs((s.usage->>'totalUse')::numeric) <= 1.7976931348623157e308
            THEN (s.usage->>'totalUse')::numeric END
      END AS total_stored,
      encode(sha256(convert_to(s.configuration::text, 'UTF8')), 'hex')
        AS configuration_sha256,
      s.usage->'holds' IS NOT NULL AS has_holds,
      (s.usage->'notified'->>'dailyThreshold') IS NOT DISTINCT FROM period.day
        AS day_threshold_notified,
      (s.usage->'notified'->>'monthlyThreshold') IS NOT DISTINCT FROM period.month
        AS month_threshold_notified

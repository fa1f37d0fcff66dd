-- The budget of candidate row `s` for a call of amount `p.amt` (see crate::budget), joined
-- as FROM items after `s` and `p`. Every column is an expression on `s`, so a row re-read
-- after a lock wait (FOR UPDATE) is judged on its new version.
--
-- b: the counters of the current period (a counter whose period ended counts 0), and the
--    limits and thresholds of `configuration` (`petMonth` is PolicySynth's own spelling of
--    the monthly limit), read by crate::budget::Stored's rule: missing or null is unset (a
--    counter 0, a limit or threshold none); a JSON number within a double's range is that
--    number; anything else is unreadable — a counter NULL, a limit flagged in
--    `limit_unreadable` (never read as 0 or "no limit"; an unreadable threshold fires
--    nothing). (Nested CASEs: a cast is evaluated only once the value is known to be a number.)
-- h: the live holds on the row (`usage.holds`, see crate::budget::Holds): `held`, their sum
--    (NULL when unreadable: holds that are not an object, or an entry whose `amount` or
--    `expiresAt` is not a number within a double's range), and `live_holds`, the entries
--    whose `expiresAt` (epoch ms) is after `p.now_ms` (NULL when none), which a write keeps.
--    Read by ps_private_access_holds_state (migrations/postgres/0004) only on a row that
--    holds something: an expression on `s`, so re-evaluated on the row's new version after a
--    lock wait like every column here, and nothing to set up for rows that hold nothing.
CROSS JOIN LATERAL (
  SELECT
    CASE
      WHEN COALESCE(jsonb_typeof(s.usage->'holds'), 'null') = 'null' THEN 0
      WHEN jsonb_typeof(s.usage->'holds') = 'object'
        THEN (ps_private_access_holds_state(s.usage->'holds', p.now_ms)->>'held')::numeric
    END AS held,
    CASE WHEN jsonb_typeof(s.usage->'holds') = 'object'
      THEN NULLIF(ps_private_access_holds_state(s.usage->'holds', p.now_ms)->'live', 'null'::jsonb)
    END AS live_holds
) h
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN s.usage->>'periodDay' = p.day THEN v.day ELSE 0 END AS used_day,
    CASE WHEN s.usage->>'periodMonth' = p.month THEN v.month ELSE 0 END AS used_month,
    v.total AS used_total,
    (s.usage->>'periodDay' IS NOT DISTINCT FROM p.day AND v.day IS NULL)
      OR (s.usage->>'periodMonth' IS NOT DISTINCT FROM p.month AND v.month IS NULL)
      OR v.total IS NULL AS counters_unreadable,
    v.limit_day, v.limit_month, v.limit_total,
    (v.limit_day IS NULL AND v.limit_day_set)
      OR (v.limit_month IS NULL AND v.limit_month_set)
      OR (v.limit_total IS NULL AND v.limit_total_set) AS limit_unreadable,
    v.threshold_day, v.threshold_month,
    COALESCE(s.usage->'notified', '{}'::jsonb) AS notified
  FROM (
    SELECT
      CASE WHEN n.day_set THEN CASE WHEN abs(n.day) <= 1.7976931348623157e308 THEN n.day END
        ELSE 0 END AS day,
      CASE WHEN n.month_set THEN CASE WHEN abs(n.month) <= 1.7976931348623157e308 THEN n.month END
        ELSE 0 END AS month,
      CASE WHEN n.total_set THEN CASE WHEN abs(n.total) <= 1.7976931348623157e308 THEN n.total END
        ELSE 0 END AS total,
      CASE WHEN abs(n.limit_day) <= 1.7976931348623157e308 THEN n.limit_day END AS limit_day,
      CASE WHEN abs(n.limit_month) <= 1.7976931348623157e308 THEN n.limit_month END AS limit_month,
      CASE WHEN abs(n.limit_total) <= 1.7976931348623157e308 THEN n.limit_total END AS limit_total,
      n.limit_day_set, n.limit_month_set, n.limit_total_set,
      CASE WHEN abs(n.threshold_day) <= 1.7976931348623157e308 THEN n.threshold_day END
        AS threshold_day,
      CASE WHEN abs(n.threshold_month) <= 1.7976931348623157e308 THEN n.threshold_month END
        AS threshold_month
    FROM (
      -- Each field: whether it is set (present and not null), and its value when a number.
      SELECT
        COALESCE(jsonb_typeof(s.usage->'dailyUse'), 'null') <> 'null' AS day_set,
        CASE WHEN jsonb_typeof(s.usage->'dailyUse') = 'number'
          THEN (s.usage->>'dailyUse')::numeric END AS day,
        COALESCE(jsonb_typeof(s.usage->'monthlyUse'), 'null') <> 'null' AS month_set,
        CASE WHEN jsonb_typeof(s.usage->'monthlyUse') = 'number'
          THEN (s.usage->>'monthlyUse')::numeric END AS month,
        COALESCE(jsonb_typeof(s.usage->'totalUse'), 'null') <> 'null' AS total_set,
        CASE WHEN jsonb_typeof(s.usage->'totalUse') = 'number'
          THEN (s.usage->>'totalUse')::numeric END AS total,
        COALESCE(jsonb_typeof(s.configuration->'maxBudget'->'perDay'), 'null') <> 'null'
          AS limit_day_set,
        CASE WHEN jsonb_typeof(s.configuration->'maxBudget'->'perDay') = 'number'
          THEN (s.configuration->'maxBudget'->>'perDay')::numeric END AS limit_day,
        COALESCE(jsonb_typeof(s.configuration->'maxBudget'->'petMonth'), 'null') <> 'null'
          AS limit_month_set,
        CASE WHEN jsonb_typeof(s.configuration->'maxBudget'->'petMonth') = 'number'
          THEN (s.configuration->'maxBudget'->>'petMonth')::numeric END AS limit_month,
        COALESCE(jsonb_typeof(s.configuration->'maxBudget'->'total'), 'null') <> 'null'
          AS limit_total_set,
        CASE WHEN jsonb_typeof(s.configuration->'maxBudget'->'total') = 'number'
          THEN (s.configuration->'maxBudget'->>'total')::numeric END AS limit_total,
        CASE WHEN jsonb_typeof(s.configuration->'emailNotificationBudgetThresholds'->'daily') = 'number'
          THEN (s.configuration->'emailNotificationBudgetThresholds'->>'daily')::numeric END
          AS threshold_day,
        CASE WHEN jsonb_typeof(s.configuration->'emailNotificationBudgetThresholds'->'monthly') = 'number'
          THEN (s.configuration->'emailNotificationBudgetThresholds'->>'monthly')::numeric END
          AS threshold_month
    ) n
  ) v
) b
-- t: the thresholds as amounts (set only when the threshold and its limit are both set): a
--    fraction of the limit when <= 1, an amount when > 1.
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN b.limit_day IS NOT NULL AND b.threshold_day IS NOT NULL
      THEN CASE WHEN b.threshold_day <= 1
        THEN b.threshold_day * b.limit_day ELSE b.threshold_day END
    END AS day_threshold_at,
    CASE WHEN b.limit_month IS NOT NULL AND b.threshold_month IS NOT NULL
      THEN CASE WHEN b.threshold_month <= 1
        THEN b.threshold_month * b.limit_month ELSE b.threshold_month END
    END AS month_threshold_at
) t
-- o: what the amount would do. `over_*`: go over a set limit on top of the use and the live
--    holds (a refusal when enforced). `spent_*`: go over it on top of the use alone (the
--    budget is spent: only such a refusal fires a limit event; one caused by holds does not).
--    `reaches_*`: bring the counter to or over a set threshold. `*_notified`: the event of that kind already fired in this
--    period (the exactly-once marks in usage.notified).
CROSS JOIN LATERAL (
  SELECT
    b.limit_day IS NOT NULL AND b.used_day + h.held + p.amt > b.limit_day AS over_day,
    b.limit_month IS NOT NULL AND b.used_month + h.held + p.amt > b.limit_month AS over_month,
    b.limit_total IS NOT NULL AND b.used_total + h.held + p.amt > b.limit_total AS over_total,
    b.limit_day IS NOT NULL AND b.used_day + p.amt > b.limit_day AS spent_day,
    b.limit_month IS NOT NULL AND b.used_month + p.amt > b.limit_month AS spent_month,
    b.limit_total IS NOT NULL AND b.used_total + p.amt > b.limit_total AS spent_total,
    t.day_threshold_at IS NOT NULL AND b.used_day + p.amt >= t.day_threshold_at
      AS reaches_day_threshold,
    t.month_threshold_at IS NOT NULL AND b.used_month + p.amt >= t.month_threshold_at
      AS reaches_month_threshold,
    (b.notified->>'dailyThreshold') IS NOT DISTINCT FROM p.day AS day_threshold_notified,
    (b.notified->>'monthlyThreshold') IS NOT DISTINCT FROM p.month AS month_threshold_notified,
    (b.notified->>'dailyLimit') IS NOT DISTINCT FROM p.day AS day_limit_notified,
    (b.notified->>'monthlyLimit') IS NOT DISTINCT FROM p.month AS month_limit_notified,
    (b.notified->>'totalLimit') IS NOT DISTINCT FROM 'total' AS total_limit_notified
) o

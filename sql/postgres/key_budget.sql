-- The budget of candidate row `s` for a call of amount `p.amt` (see crate::budget), joined
-- as FROM items after `s` and `p`. Every column is an expression on `s`, so a row re-read
-- after a lock wait (FOR UPDATE) is judged on its new version.
--
-- b: the counters of the current period (a counter whose period ended counts 0), and the
--    limits and thresholds of `configuration` (a value that is not a JSON number is unset;
--    `petMonth` is PolicySynth's own spelling of the monthly limit).
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN s.usage->>'periodDay' = p.day
      THEN COALESCE((s.usage->>'dailyUse')::numeric, 0) ELSE 0 END AS used_day,
    CASE WHEN s.usage->>'periodMonth' = p.month
      THEN COALESCE((s.usage->>'monthlyUse')::numeric, 0) ELSE 0 END AS used_month,
    COALESCE((s.usage->>'totalUse')::numeric, 0) AS used_total,
    CASE WHEN jsonb_typeof(s.configuration->'maxBudget'->'perDay') = 'number'
      THEN (s.configuration->'maxBudget'->>'perDay')::numeric END AS limit_day,
    CASE WHEN jsonb_typeof(s.configuration->'maxBudget'->'petMonth') = 'number'
      THEN (s.configuration->'maxBudget'->>'petMonth')::numeric END AS limit_month,
    CASE WHEN jsonb_typeof(s.configuration->'maxBudget'->'total') = 'number'
      THEN (s.configuration->'maxBudget'->>'total')::numeric END AS limit_total,
    CASE WHEN jsonb_typeof(s.configuration->'emailNotificationBudgetThresholds'->'daily') = 'number'
      THEN (s.configuration->'emailNotificationBudgetThresholds'->>'daily')::numeric END
      AS threshold_day,
    CASE WHEN jsonb_typeof(s.configuration->'emailNotificationBudgetThresholds'->'monthly') = 'number'
      THEN (s.configuration->'emailNotificationBudgetThresholds'->>'monthly')::numeric END
      AS threshold_month,
    COALESCE(s.usage->'notified', '{}'::jsonb) AS notified
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
-- o: what the amount would do. `over_*`: go over a set limit (a refusal when enforced).
--    `reaches_*`: bring the counter to or over a set threshold. `*_notified`: the event of that kind already fired in this
--    period (the exactly-once marks in usage.notified).
CROSS JOIN LATERAL (
  SELECT
    b.limit_day IS NOT NULL AND b.used_day + p.amt > b.limit_day AS over_day,
    b.limit_month IS NOT NULL AND b.used_month + p.amt > b.limit_month AS over_month,
    b.limit_total IS NOT NULL AND b.used_total + p.amt > b.limit_total AS over_total,
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

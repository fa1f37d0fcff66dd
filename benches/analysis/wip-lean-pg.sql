-- The common path of an increment: the group's first active matching key (id order) is
-- locked and counted only when the call is granted *and* causes no budget event — the key
-- has room for the amount (or budgets are not enforced) and no threshold is reached that was
-- not already notified in this period. In every other case nothing is updated and
-- increment_budget.sql decides under its own row locks (refusal, failover, events). Both
-- decide on locked row state, so exactness does not depend on which one counted.
-- Also the statement a coalesced batch is sent as, with the sum of its amounts.
-- $1 time zone, $2 group, $3 amount, $4 enforce, then the filter's values from $5.
-- The head of every statement that reads or writes budget counters: the current period by
-- the database's clock in the time zone $1 (PSPAS_BUDGET_TIMEZONE), so that every process on
-- every machine agrees on when a day or a month ends. See crate::budget::Period.
WITH period AS (
  SELECT
    to_char(now() AT TIME ZONE $1, 'YYYY-MM-DD') AS day,
    to_char(now() AT TIME ZONE $1, 'YYYY-MM') AS month,
    date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1 AS day_start,
    date_trunc('month', now() AT TIME ZONE $1) AT TIME ZONE $1 AS month_start
)
,
p AS (
  SELECT period.*, $3::float8::numeric AS amt, $4::bool AS enforce
  FROM period
),
k AS (
  SELECT s.id, b.used_day, b.used_month, b.used_total, o.*
  FROM ps_private_access_store s
  CROSS JOIN p
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
-- o: what the amount would do. `over_*`: go over a set limit (a refusal when enforced).
--    `reaches_*`: bring the counter to or over a set threshold (a fraction of the limit when
--    <= 1, an amount when > 1). `*_notified`: the event of that kind already fired in this
--    period (the exactly-once marks in usage.notified).
CROSS JOIN LATERAL (
  SELECT
    b.limit_day IS NOT NULL AND b.used_day + p.amt > b.limit_day AS over_day,
    b.limit_month IS NOT NULL AND b.used_month + p.amt > b.limit_month AS over_month,
    b.limit_total IS NOT NULL AND b.used_total + p.amt > b.limit_total AS over_total,
    b.limit_day IS NOT NULL AND b.threshold_day IS NOT NULL
      AND b.used_day + p.amt >= CASE WHEN b.threshold_day <= 1
        THEN b.threshold_day * b.limit_day ELSE b.threshold_day END AS reaches_day_threshold,
    b.limit_month IS NOT NULL AND b.threshold_month IS NOT NULL
      AND b.used_month + p.amt >= CASE WHEN b.threshold_month <= 1
        THEN b.threshold_month * b.limit_month ELSE b.threshold_month END
      AS reaches_month_threshold,
    (b.notified->>'dailyThreshold') IS NOT DISTINCT FROM p.day AS day_threshold_notified,
    (b.notified->>'monthlyThreshold') IS NOT DISTINCT FROM p.month AS month_threshold_notified,
    (b.notified->>'dailyLimit') IS NOT DISTINCT FROM p.day AS day_limit_notified,
    (b.notified->>'monthlyLimit') IS NOT DISTINCT FROM p.month AS month_limit_notified,
    (b.notified->>'totalLimit') IS NOT DISTINCT FROM 'total' AS total_limit_notified
) o

  WHERE s.group_id = $2 AND s.is_active IS NOT FALSE  AND ai_model_id = $5
  ORDER BY s.id
  LIMIT 1
  FOR UPDATE OF s
)
UPDATE ps_private_access_store s
SET usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object(
      'dailyUse', k.used_day + p.amt,
      'monthlyUse', k.used_month + p.amt,
      'totalUse', k.used_total + p.amt,
      'periodDay', p.day,
      'periodMonth', p.month
    ),
    last_used_at = now(),
    updated_at = now()
FROM k
CROSS JOIN p
WHERE s.id = k.id
  AND (NOT p.enforce OR NOT (k.over_day OR k.over_month OR k.over_total))
  AND NOT (k.reaches_day_threshold AND NOT k.day_threshold_notified)
  AND NOT (k.reaches_month_threshold AND NOT k.month_threshold_notified)
RETURNING
  s.id::int8 AS id,
  s.encrypted_api_key,
  s.encrypted_aes_key

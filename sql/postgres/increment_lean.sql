-- The common path of an increment: the group's first active matching key (id order) is
-- locked and counted only when the call is granted *and* causes no budget event — the key
-- has room for the amount (or budgets are not enforced) and no threshold is reached that was
-- not already notified in this period. In every other case nothing is updated and
-- increment_budget.sql decides under its own row locks (refusal, failover, events). Both
-- decide on locked row state, so exactness does not depend on which one counted.
-- Also the statement a coalesced batch is sent as, with the sum of its amounts.
-- $1 time zone, $2 group, $3 amount, $4 enforce, then the filter's values from $5.
/*:period*/,
p AS (
  SELECT period.*, $3::float8::numeric AS amt, $4::bool AS enforce
  FROM period
),
k AS (
  SELECT s.id, b.used_day, b.used_month, b.used_total, o.*
  FROM ps_private_access_store s
  CROSS JOIN p
/*:key_budget*/
  WHERE s.group_id = $2 AND s.is_active IS NOT FALSE /*:filter*/
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

-- The common path of an increment: the group's first active matching key (id order) is
-- locked and counted only when the call is granted *and* causes no budget event — the key
-- has room for the amount and no threshold is reached that was not already notified in this
-- period. In every other case nothing is updated and increment_budget.sql decides under its
-- own row locks (refusal, failover, events). Both decide on locked row state, so exactness
-- does not depend on which one counted. Also the statement a coalesced batch is sent as,
-- with the sum of its amounts.
--
-- The key's limits are not read out of `configuration` here (that expression tree, rebuilt
-- at every execution of the cached plan, was most of this statement's cost): the caller
-- passes the limits that increment_budget.sql last derived for this group and filter,
-- together with the SHA-256 of the configuration they were derived from (its jsonb text,
-- hex), and the statement counts only when the locked row still holds exactly that
-- configuration. A stale or foreign hint therefore counts nothing and the call goes to
-- increment_budget.sql.
--
-- $1 time zone, $2 group, $3 amount, $4 the SHA-256 (hex) of the configuration the limits
-- below were derived from, $5 daily, $6 monthly, $7 total limit (NULL: unset, or budgets not
-- enforced), $8 daily, $9 monthly threshold as an amount (NULL: unset), then the filter's
-- values from $10.
/*:period*/,
k AS (
  SELECT
    c.id, c.day, c.month,
    c.day_stored + $3::float8::numeric AS day_use,
    c.month_stored + $3::float8::numeric AS month_use,
    c.total_stored + $3::float8::numeric AS total_use,
    c.configuration_sha256 = $4::text AS same_configuration,
    c.has_holds, c.day_threshold_notified, c.month_threshold_notified
  FROM (
    SELECT
      s.id,
      period.day,
      period.month,
      /*:lean_row*/
    FROM ps_private_access_store s
    CROSS JOIN period
    WHERE s.group_id = $2 AND s.is_active IS NOT FALSE /*:filter*/
    ORDER BY s.id
    LIMIT 1
    FOR UPDATE OF s
  ) c
)
/*:lean_set*/
  -- Room: no set limit is exceeded.
  AND (k.day_use <= $5::numeric) IS NOT FALSE
  AND (k.month_use <= $6::numeric) IS NOT FALSE
  AND (k.total_use <= $7::numeric) IS NOT FALSE
  -- No threshold event: below it, or its event already fired in this period.
  AND ((k.day_use < $8::numeric) IS NOT FALSE OR k.day_threshold_notified)
  AND ((k.month_use < $9::numeric) IS NOT FALSE OR k.month_threshold_notified)
RETURNING
  s.id::int8 AS id,
  s.encrypted_api_key,
  s.encrypted_aes_key,
  k.day,
  k.month

-- The common path of several increments on different keys at once: what
-- increment_lean.sql decides for one call, decided for each of up to a few hundred calls in
-- one statement, one round trip and one commit (cross-key batching, see
-- src/store/pg/cross.rs). Each call names its group, amount, filter and the hint its
-- (group, filter) holds; it is counted only when it would be counted alone (granted, no
-- budget event, the row still holding the hinted configuration, no holds). The calls not
-- counted here are not touched and go on alone (lean, then increment_budget.sql).
--
-- Lock order: the calls arrive sorted by group, at most one per group, and each locks its
-- group's first matching key (id order) in that order, as the nested loop over `i` visits
-- them. Every batch of every process therefore takes its locks in ascending group order, and
-- every other statement locks rows of one group only: no two can wait on each other in a
-- cycle.
--
-- $1 time zone; then one array per column, element n for the n-th call: $2 group, $3 amount,
-- $4 configuration SHA-256 (hex), $5 daily, $6 monthly, $7 total limit (NULL: unset, or not
-- enforced), $8 daily, $9 monthly threshold amount (NULL: unset), $10 ai_model_id filter
-- (0 any, 1 IS NULL, 2 equal to $11's element), $12 external_api_id filter (likewise with
-- $13), $14 is_active filter (0 any, 1 IS NULL, 2 not false, 3 false).
/*:period*/,
i AS MATERIALIZED (
  SELECT *
  FROM unnest(
    $2::int8[], $3::float8[], $4::text[],
    $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::int4[], $11::int8[], $12::int4[], $13::int8[], $14::int4[]
  ) WITH ORDINALITY AS i(
    group_id, amount, configuration_sha256,
    limit_day, limit_month, limit_total, day_threshold_at, month_threshold_at,
    model_filter, model_id, api_filter, api_id, active_filter,
    n
  )
),
k AS MATERIALIZED (
  SELECT
    i.n, c.id, period.day, period.month,
    c.day_stored + i.amount::numeric AS day_use,
    c.month_stored + i.amount::numeric AS month_use,
    c.total_stored + i.amount::numeric AS total_use,
    c.configuration_sha256 = i.configuration_sha256 AS same_configuration,
    c.has_holds, c.day_threshold_notified, c.month_threshold_notified,
    i.limit_day::numeric AS limit_day,
    i.limit_month::numeric AS limit_month,
    i.limit_total::numeric AS limit_total,
    i.day_threshold_at::numeric AS day_threshold_at,
    i.month_threshold_at::numeric AS month_threshold_at
  FROM i
  CROSS JOIN period
  CROSS JOIN LATERAL (
    SELECT
      s.id,
      /*:lean_row*/
    FROM ps_private_access_store s
    WHERE s.group_id = i.group_id
      AND s.is_active IS NOT FALSE
      AND CASE i.model_filter
        WHEN 0 THEN TRUE
        WHEN 1 THEN s.ai_model_id IS NULL
        ELSE s.ai_model_id = i.model_id
      END
      AND CASE i.api_filter
        WHEN 0 THEN TRUE
        WHEN 1 THEN s.external_api_id IS NULL
        ELSE s.external_api_id = i.api_id
      END
      AND CASE i.active_filter
        WHEN 0 THEN TRUE
        WHEN 1 THEN s.is_active IS NULL
        WHEN 2 THEN s.is_active IS NOT FALSE
        ELSE s.is_active = FALSE
      END
    ORDER BY s.id
    LIMIT 1
    FOR UPDATE OF s
  ) c
)
/*:lean_set*/
  AND (k.day_use <= k.limit_day) IS NOT FALSE
  AND (k.month_use <= k.limit_month) IS NOT FALSE
  AND (k.total_use <= k.limit_total) IS NOT FALSE
  AND ((k.day_use < k.day_threshold_at) IS NOT FALSE OR k.day_threshold_notified)
  AND ((k.month_use < k.month_threshold_at) IS NOT FALSE OR k.month_threshold_notified)
RETURNING
  k.n::int8 AS n,
  s.id::int8 AS id,
  s.encrypted_api_key,
  s.encrypted_aes_key,
  k.day,
  k.month

-- An increment with the whole budget decision (crate::budget::decide, stated in SQL), in one
-- statement so that any number of processes decide on the same locked rows with the
-- database's clock. Sent when increment_lean.sql counted nothing; also a reservation
-- (crate::reservation), which places a hold of the amount on the granted key instead of
-- counting it, and records it in ps_private_access_holds.
-- $1 time zone, $2 group, $3 amount, $4 enforce, $5 reservation id (NULL: an increment), $6
-- its time to live (ms), $7 its requestId, $8 that request's fingerprint, $9 the request
-- retention (ms), then the filter's values from $10.
-- One result row per key the call touched, in id order: each key before the granted one that
-- refused the call for the first time in its period (no API key), then the granted key, which
-- also carries its configuration and the limits derived from it (the `hint_*` columns) for
-- increment_lean.sql.
/*:period*/,
p AS (
  SELECT
    period.*,
    $3::float8::numeric AS amt,
    $4::bool AS enforce,
    $5::text AS hold_id,
    floor(extract(epoch FROM now()) * 1000) AS now_ms,
    floor(extract(epoch FROM now()) * 1000) + $6::float8::numeric AS hold_until
  FROM period
),
-- The group's active matching keys, all locked in id order before any is judged. The pick may
-- lock a later key and the refusals then the earlier ones; taken first here, every statement
-- locks keys in the one order cross-key batches use too, (group, id), so no two statements
-- wait on each other in a cycle (__test__/cross-key.spec.cjs hunts deadlocks).
locked AS MATERIALIZED (
  SELECT s.id
  FROM ps_private_access_store s
  WHERE s.group_id = $2 AND s.is_active IS NOT FALSE /*:filter*/
  ORDER BY s.id
  FOR UPDATE OF s
),
-- The first active matching key (id order) that can take the amount on top of its use and
-- live holds: any, when budgets are not enforced. Locked; a row re-read after a lock wait is
-- judged again. `holds_after`: the holds the key keeps (the live ones, and the new hold).
pick AS (
  SELECT
    s.id, s.group_id, s.ai_model_id, s.external_api_id,
    b.used_day, b.used_month, b.used_total, b.limit_day, b.limit_month, b.notified,
    s.configuration, b.limit_total, t.day_threshold_at, t.month_threshold_at,
    -- A hold is not use: it fires no threshold.
    p.hold_id IS NULL AND o.reaches_day_threshold AND NOT o.day_threshold_notified
      AS event_daily_threshold,
    p.hold_id IS NULL AND o.reaches_month_threshold AND NOT o.month_threshold_notified
      AS event_monthly_threshold,
    NULLIF(
      COALESCE(h.live_holds, '{}'::jsonb)
        || CASE WHEN p.hold_id IS NULL THEN '{}'::jsonb
             ELSE jsonb_build_object(p.hold_id,
               jsonb_build_object('amount', p.amt, 'expiresAt', p.hold_until))
           END,
      '{}'::jsonb
    ) AS holds_after
  FROM ps_private_access_store s
  CROSS JOIN p
/*:key_budget*/
  WHERE s.group_id = $2 AND s.is_active IS NOT FALSE /*:filter*/
    -- (The lock above first: an init plan, run once before the first row is judged.)
    AND (SELECT count(*) FROM locked) > 0
    -- Fail closed: unreadable counters or holds (or, when enforced, limits) refuse, with no
    -- event.
    AND NOT b.counters_unreadable AND h.held IS NOT NULL
    AND (NOT p.enforce OR NOT (b.limit_unreadable OR o.over_day OR o.over_month OR o.over_total))
  ORDER BY s.id
  LIMIT 1
  FOR UPDATE OF s
),
-- Count the amount on it (counters of an ended period restart), and mark the thresholds this
-- call reached first, so each threshold event fires once per period; or, for a reservation,
-- count nothing and add the hold. Either way expired holds leave the row (and `holds` with
-- the last one, so that increment_lean.sql counts on the key again).
granted AS (
  UPDATE ps_private_access_store s
  SET usage = (COALESCE(s.usage, '{}'::jsonb) - 'holds')
    || CASE WHEN p.hold_id IS NOT NULL THEN '{}'::jsonb ELSE jsonb_build_object(
        'dailyUse', pick.used_day + p.amt,
        'monthlyUse', pick.used_month + p.amt,
        'totalUse', pick.used_total + p.amt,
        'periodDay', p.day,
        'periodMonth', p.month,
        'notified', pick.notified
          || CASE WHEN pick.event_daily_threshold
               THEN jsonb_build_object('dailyThreshold', p.day) ELSE '{}'::jsonb END
          || CASE WHEN pick.event_monthly_threshold
               THEN jsonb_build_object('monthlyThreshold', p.month) ELSE '{}'::jsonb END
      ) END
    || CASE WHEN pick.holds_after IS NULL THEN '{}'::jsonb
         ELSE jsonb_build_object('holds', pick.holds_after) END,
      last_used_at = now(),
      updated_at = now()
  FROM pick
  CROSS JOIN p
  WHERE s.id = pick.id
  RETURNING
    s.id::int8 AS id,
    s.encrypted_api_key,
    s.encrypted_aes_key,
    pick.group_id::int8 AS group_id,
    pick.ai_model_id::int8 AS ai_model_id,
    pick.external_api_id::int8 AS external_api_id,
    (pick.used_day + p.amt)::float8 AS used_day,
    (pick.used_month + p.amt)::float8 AS used_month,
    (pick.used_total + p.amt)::float8 AS used_total,
    pick.limit_day::float8 AS limit_day,
    pick.limit_month::float8 AS limit_month,
    NULL::float8 AS limit_total,
    pick.event_daily_threshold,
    pick.event_monthly_threshold,
    false AS event_daily_limit,
    false AS event_monthly_limit,
    false AS event_total_limit,
    -- What increment_lean.sql needs to decide the next calls for this group and filter: the
    -- configuration's SHA-256 (of its jsonb text), not the configuration itself.
    encode(sha256(convert_to(pick.configuration::text, 'UTF8')), 'hex')
      AS hint_configuration_sha256,
    pick.limit_day::text AS hint_limit_day,
    pick.limit_month::text AS hint_limit_month,
    pick.limit_total::text AS hint_limit_total,
    pick.day_threshold_at::text AS hint_day_threshold_at,
    pick.month_threshold_at::text AS hint_month_threshold_at
),
-- When enforced: the keys before the pick (all of them, when none could take the amount) whose
-- use alone refuses it, for the first time in their period. Locked in id order like the pick.
refusing AS (
  SELECT
    s.id, s.group_id, s.ai_model_id, s.external_api_id,
    b.used_day, b.used_month, b.used_total, b.limit_day, b.limit_month, b.limit_total,
    o.spent_day AND NOT o.day_limit_notified AS event_daily_limit,
    o.spent_month AND NOT o.month_limit_notified AS event_monthly_limit,
    o.spent_total AND NOT o.total_limit_notified AS event_total_limit
  FROM ps_private_access_store s
  CROSS JOIN p
/*:key_budget*/
  WHERE p.enforce AND s.group_id = $2 AND s.is_active IS NOT FALSE /*:filter*/
    AND s.id < COALESCE((SELECT id FROM pick), 9223372036854775807)
    AND NOT b.counters_unreadable AND NOT b.limit_unreadable AND h.held IS NOT NULL
    AND (
      (o.spent_day AND NOT o.day_limit_notified)
      OR (o.spent_month AND NOT o.month_limit_notified)
      OR (o.spent_total AND NOT o.total_limit_notified)
    )
  ORDER BY s.id
  FOR UPDATE OF s
),
-- Mark those refusals, so each limit event fires once per period.
refused AS (
  UPDATE ps_private_access_store s
  SET usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object(
        'notified', COALESCE(s.usage->'notified', '{}'::jsonb)
          || CASE WHEN r.event_daily_limit
               THEN jsonb_build_object('dailyLimit', p.day) ELSE '{}'::jsonb END
          || CASE WHEN r.event_monthly_limit
               THEN jsonb_build_object('monthlyLimit', p.month) ELSE '{}'::jsonb END
          || CASE WHEN r.event_total_limit
               THEN jsonb_build_object('totalLimit', 'total') ELSE '{}'::jsonb END
      )
  FROM refusing r
  CROSS JOIN p
  WHERE s.id = r.id
  RETURNING
    r.id::int8 AS id,
    NULL::text AS encrypted_api_key,
    NULL::text AS encrypted_aes_key,
    r.group_id::int8 AS group_id,
    r.ai_model_id::int8 AS ai_model_id,
    r.external_api_id::int8 AS external_api_id,
    r.used_day::float8 AS used_day,
    r.used_month::float8 AS used_month,
    r.used_total::float8 AS used_total,
    r.limit_day::float8 AS limit_day,
    r.limit_month::float8 AS limit_month,
    r.limit_total::float8 AS limit_total,
    false AS event_daily_threshold,
    false AS event_monthly_threshold,
    r.event_daily_limit,
    r.event_monthly_limit,
    r.event_total_limit,
    NULL::text AS hint_configuration_sha256,
    NULL::text AS hint_limit_day,
    NULL::text AS hint_limit_month,
    NULL::text AS hint_limit_total,
    NULL::text AS hint_day_threshold_at,
    NULL::text AS hint_month_threshold_at
),
-- A reservation's record (the granted key's hold), and the records past their prune time.
held AS (
  INSERT INTO ps_private_access_holds (
    reservation_id, group_id, key_id, request_id, fingerprint, amount, expires_at, prune_after
  )
  SELECT
    p.hold_id, g.group_id, g.id, $7::text, $8::text, p.amt,
    to_timestamp(p.hold_until / 1000),
    to_timestamp(p.hold_until / 1000) + $9::float8 * interval '1 millisecond'
  FROM granted g
  CROSS JOIN p
  WHERE p.hold_id IS NOT NULL
),
pruned AS (
  DELETE FROM ps_private_access_holds
  WHERE $5::text IS NOT NULL AND prune_after < now()
),
-- Every key the call touched: the refusals (lower ids), then the granted key.
touched AS (
  SELECT * FROM refused
  UNION ALL
  SELECT * FROM granted
),
-- The events this call fired, in the outbox (migrations/postgres/0005), in this statement's
-- transaction: once per key, period and kind (the unique key makes a second writer's row a
-- no-op). The same fields as crate::store::pg::decode::events_of reads from these rows.
outbox AS (
  INSERT INTO ps_private_access_events (
    key_id, group_id, ai_model_id, external_api_id, kind, period_key, used, budget_limit,
    period_start
  )
  SELECT
    t.id, t.group_id, t.ai_model_id, t.external_api_id, e.kind, e.period_key, e.used,
    COALESCE(e.budget_limit, 0), e.period_start
  FROM touched t
  CROSS JOIN p
  CROSS JOIN LATERAL (
    VALUES
      (t.event_daily_threshold, 'dailyThreshold', p.day, t.used_day, t.limit_day, p.day_start),
      (t.event_monthly_threshold, 'monthlyThreshold', p.month, t.used_month, t.limit_month,
        p.month_start),
      (t.event_daily_limit, 'dailyLimit', p.day, t.used_day, t.limit_day, p.day_start),
      (t.event_monthly_limit, 'monthlyLimit', p.month, t.used_month, t.limit_month,
        p.month_start),
      (t.event_total_limit, 'totalLimit', 'total', t.used_total, t.limit_total,
        NULL::timestamptz)
  ) e (fires, kind, period_key, used, budget_limit, period_start)
  WHERE e.fires
  ORDER BY t.id
  ON CONFLICT (key_id, period_key, kind) DO NOTHING
)
-- In the order the call met the keys.
SELECT
  touched.*, p.day, p.month, p.day_start, p.month_start, p.hold_until::float8 AS hold_until
FROM touched
CROSS JOIN p
ORDER BY touched.id

-- A reservation and its key, locked in that order (crate::reservation), with the current
-- period and the database's clock in epoch ms (which holds have expired).
-- $1 time zone, $2 reservation id.
/*:period*/
SELECT
  h.reservation_id,
  h.key_id::int8 AS key_id,
  h.amount::text AS amount,
  h.state,
  h.charged::text AS charged,
  h.overrun::text AS overrun,
  s.id::int8 AS id,
  s.group_id::int8 AS group_id,
  s.ai_model_id::int8 AS ai_model_id,
  s.external_api_id::int8 AS external_api_id,
  s.usage::text AS usage,
  s.configuration::text AS configuration,
  period.day,
  period.month,
  period.day_start,
  period.month_start,
  floor(extract(epoch FROM now()) * 1000)::int8 AS now_ms
FROM ps_private_access_holds h
JOIN ps_private_access_store s ON s.id = h.key_id
CROSS JOIN period
WHERE h.reservation_id = $2
FOR UPDATE OF h, s

-- What a budget status is computed from (crate::budget::status), in the current period.
-- $1 time zone, $2 key id. `now_ms`: the database's clock (which holds have expired).
/*:period*/
SELECT
  COALESCE(s.is_active, true) AS is_active,
  s.usage::text AS usage,
  s.configuration::text AS configuration,
  period.day,
  period.month,
  period.day_start,
  period.month_start,
  floor(extract(epoch FROM now()) * 1000)::int8 AS now_ms
FROM ps_private_access_store s
CROSS JOIN period
WHERE s.id = $2

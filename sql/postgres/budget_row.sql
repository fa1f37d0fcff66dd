-- What a budget status is computed from (crate::budget::status), in the current period.
-- $1 time zone, $2 key id.
/*:period*/
SELECT
  COALESCE(s.is_active, true) AS is_active,
  s.usage::text AS usage,
  s.configuration::text AS configuration,
  period.day,
  period.month,
  period.day_start,
  period.month_start
FROM ps_private_access_store s
CROSS JOIN period
WHERE s.id = $2

-- A group's keys, active first, then by id.
-- $1 time zone, $2 group, then the filter's values from $3.
/*:period*/
SELECT
/*:key_record*/
FROM ps_private_access_store s
CROSS JOIN period
WHERE s.group_id = $2 /*:filter*/
ORDER BY COALESCE(s.is_active, true) DESC, s.id ASC

-- A group's keys, active first, then by id.
-- ?1 group, then the filter's values from ?2.
SELECT
/*:key_record*/
FROM ps_private_access_store
WHERE group_id = ?1 /*:filter*/
ORDER BY COALESCE(is_active, 1) DESC, id ASC

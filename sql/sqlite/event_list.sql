-- The outbox for an operator, newest first. ?1 the state (NULL: all), ?2 how many at most.
SELECT
/*:event_columns*/
FROM ps_private_access_events
WHERE ?1 IS NULL OR state = ?1
ORDER BY event_id DESC
LIMIT ?2

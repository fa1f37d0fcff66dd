-- The outbox for an operator (listBudgetEvents, `ps-access-store events`), newest first.
-- $1 the state ('pending', 'parked', 'acked'; NULL: all), $2 how many at most.
SELECT
/*:event_columns*/
FROM ps_private_access_events e
WHERE $1::text IS NULL OR e.state = $1
ORDER BY e.event_id DESC
LIMIT $2

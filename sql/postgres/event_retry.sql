-- Un-park an event (retryBudgetEvent, `ps-access-store events retry`): pending again, its
-- attempts counted afresh. $1 the event id.
UPDATE ps_private_access_events
SET state = 'pending', attempts = 0, leased_until = NULL, consumer = NULL
WHERE event_id = $1 AND state = 'parked'
RETURNING event_id

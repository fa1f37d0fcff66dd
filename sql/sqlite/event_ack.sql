-- Ack one claimed event (ackBudgetEvents, once per id in one transaction). ?1 event id, ?2
-- now (RFC 3339). Only a pending event is acked (a parked one is retried first).
UPDATE ps_private_access_events
SET state = 'acked', acked_at = ?2, leased_until = NULL
WHERE event_id = ?1 AND state = 'pending'

-- Ack claimed events (ackBudgetEvents): they are done and are pruned after the retention.
-- $1 the event ids. Only pending events are acked (a parked one is retried first).
UPDATE ps_private_access_events
SET state = 'acked', acked_at = now(), leased_until = NULL
WHERE event_id = ANY($1::int8[]) AND state = 'pending'
RETURNING event_id

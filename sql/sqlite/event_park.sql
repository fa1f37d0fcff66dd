-- Park the events claimed ?1 times whose last lease ran out without an ack (kept and shown
-- until retried). ?2 now (RFC 3339).
UPDATE ps_private_access_events
SET state = 'parked', leased_until = NULL
WHERE state = 'pending' AND attempts >= ?1 AND leased_until <= ?2

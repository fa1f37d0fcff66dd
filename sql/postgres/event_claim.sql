-- Claim budget events for a consumer (claimBudgetEvents), in one statement (so through a
-- transaction-mode pooler too; no LISTEN). $1 consumer, $2 how many at most, $3 the lease
-- (ms), $4 the attempts after which an unacked event is parked, $5 how long acked events are
-- kept (ms).
--   pruned: acked events older than the retention (nothing unacked is ever pruned).
--   parked: events claimed $4 times whose last lease ran out without an ack.
--   claimable: pending events not leased (or whose lease ran out), oldest first; rows another
--   consumer is claiming right now are skipped, not waited for.
-- The claimed events come back leased to $1 until now + $3, `attempts` counted.
WITH pruned AS (
  DELETE FROM ps_private_access_events
  WHERE state = 'acked' AND acked_at < now() - $5::float8 * interval '1 millisecond'
),
parked AS (
  UPDATE ps_private_access_events
  SET state = 'parked', leased_until = NULL
  WHERE state = 'pending' AND attempts >= $4 AND leased_until <= now()
),
claimable AS (
  SELECT event_id
  FROM ps_private_access_events
  WHERE state = 'pending' AND attempts < $4
    AND (leased_until IS NULL OR leased_until <= now())
  ORDER BY event_id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE ps_private_access_events e
SET attempts = e.attempts + 1,
  consumer = $1,
  leased_until = now() + $3::float8 * interval '1 millisecond'
FROM claimable c
WHERE e.event_id = c.event_id
RETURNING
/*:event_columns*/

-- Lease up to ?5 claimable events (pending, not leased or the lease ran out, attempts left)
-- to consumer ?1 until ?2, oldest first, counting the attempt. ?3 max attempts, ?4 now
-- (times RFC 3339). Inside the claim's write transaction: one claimer at a time.
UPDATE ps_private_access_events
SET attempts = attempts + 1, consumer = ?1, leased_until = ?2
WHERE event_id IN (
  SELECT event_id
  FROM ps_private_access_events
  WHERE state = 'pending' AND attempts < ?3 AND (leased_until IS NULL OR leased_until <= ?4)
  ORDER BY event_id
  LIMIT ?5
)
RETURNING
/*:event_columns*/

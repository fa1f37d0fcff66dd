-- Settle or release a reservation read by hold_lock.sql (both rows still locked): the key's
-- new usage as crate::reservation::step computed it, and the reservation's new state.
-- $1 key id, $2 usage (jsonb text), $3 reservation id, $4 state, $5 charged, $6 overrun
-- (decimal text; NULL for a release), $7 the request retention (ms).
WITH key AS (
  UPDATE ps_private_access_store
  SET usage = $2::jsonb, updated_at = now()
  WHERE id = $1
)
UPDATE ps_private_access_holds
SET
  state = $4,
  charged = $5::numeric,
  overrun = $6::numeric,
  settled_at = now(),
  prune_after = now() + $7::float8 * interval '1 millisecond'
WHERE reservation_id = $3

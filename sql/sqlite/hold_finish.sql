-- A reservation's new state (settled or released). ?1 reservation id, ?2 state, ?3 charged,
-- ?4 overrun (decimal text; NULL for a release), ?5 now, ?6 prune after (RFC 3339).
UPDATE ps_private_access_holds
SET
  state = ?2,
  charged = ?3,
  overrun = ?4,
  settled_at = ?5,
  prune_after = ?6
WHERE reservation_id = ?1

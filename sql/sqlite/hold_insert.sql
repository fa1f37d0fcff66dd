-- Record a reservation (its hold is in the key's usage.holds). Inside the reserve's
-- BEGIN IMMEDIATE transaction. ?1 reservation id, ?2 group, ?3 key, ?4 request id, ?5
-- fingerprint, ?6 amount (decimal text), ?7 now, ?8 expires at, ?9 prune after (RFC 3339).
INSERT INTO ps_private_access_holds (
  reservation_id, group_id, key_id, request_id, fingerprint, amount, created_at, expires_at,
  prune_after
)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)

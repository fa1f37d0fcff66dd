-- Write a key's usage as crate::budget wrote it: the limit-event marks of a key that refused
-- an increment, or the counters of an undone one. Its timestamps are not touched.
-- ?1 key id, ?2 usage (JSON text).
UPDATE ps_private_access_store
SET usage = ?2
WHERE id = ?1

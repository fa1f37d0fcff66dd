-- Mark a key that refused an increment (its limit events, once per period, as
-- crate::budget::decide wrote them). Its timestamps are not touched.
-- ?1 key id, ?2 usage (JSON text).
UPDATE ps_private_access_store
SET usage = ?2
WHERE id = ?1

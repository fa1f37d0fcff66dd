-- A key's stored usage (JSON text), read inside a write transaction. ?1 key id.
SELECT usage
FROM ps_private_access_store
WHERE id = ?1

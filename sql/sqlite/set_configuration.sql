-- Replace a key's budget configuration (checked by the caller). ?1 key id, ?2 configuration
-- (JSON text).
UPDATE ps_private_access_store
SET
  configuration = ?2,
  updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = ?1

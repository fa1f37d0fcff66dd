-- Count an increment on the granted key: its new usage (counters and notification marks, as
-- crate::budget::decide wrote them), last used now; returns its sealed key.
-- ?1 key id, ?2 usage (JSON text).
UPDATE ps_private_access_store
SET
  usage = ?2,
  last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = ?1
RETURNING
  encrypted_api_key,
  encrypted_aes_key

-- Activate or deactivate a key. ?1 key id, ?2 active.
UPDATE ps_private_access_store
SET
  is_active = ?2,
  updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = ?1

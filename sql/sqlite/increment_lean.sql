-- The common increment in one autocommit statement (src/store/sqlite/lean.rs): the group's
-- first active matching key, counted with the usage crate::budget::decide wrote for it from the
-- row as this process last wrote or read it. Written only while the row still is that row —
-- the same usage and configuration text, still active, and still the first active matching
-- key of its group — else nothing is written and the call is decided in a BEGIN IMMEDIATE
-- transaction (increment_candidates.sql). Returns the sealed key.
-- ?1 key id, ?2 group, ?3 usage as last seen (JSON text), ?4 configuration as last seen,
-- ?5 the new usage (JSON text), then the filter's values from ?6.
UPDATE ps_private_access_store
SET
  usage = ?5,
  last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = ?1
  AND group_id = ?2
  AND is_active IS NOT FALSE
  AND usage IS ?3
  AND configuration IS ?4
  AND NOT EXISTS (
    SELECT 1
    FROM ps_private_access_store
    WHERE group_id = ?2 AND is_active IS NOT FALSE /*:filter*/
      AND id < ?1
  )
RETURNING
  encrypted_api_key,
  encrypted_aes_key

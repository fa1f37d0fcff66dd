-- What a budget status is computed from (crate::budget::status). ?1 key id.
SELECT
  COALESCE(is_active, 1) AS is_active,
  usage,
  configuration
FROM ps_private_access_store
WHERE id = ?1

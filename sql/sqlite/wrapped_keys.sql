-- A batch of rows' wrapped data keys (and groups) for key rotation, binding or verification,
-- in id order.
-- ?1 the last id of the previous batch (0 to start), ?2 the batch size.
SELECT
  id,
  group_id,
  encrypted_api_key,
  encrypted_aes_key
FROM ps_private_access_store
WHERE id > ?1
ORDER BY id
LIMIT ?2

-- A reservation made earlier with this requestId in this group (see
-- sql/postgres/hold_find.sql). ?1 group, ?2 request id.
SELECT
  h.reservation_id,
  h.fingerprint,
  h.amount,
  h.expires_at,
  k.id,
  k.encrypted_api_key,
  k.encrypted_aes_key
FROM ps_private_access_holds h
LEFT JOIN ps_private_access_store k ON k.id = h.key_id
WHERE h.group_id = ?1 AND h.request_id = ?2

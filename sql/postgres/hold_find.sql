-- A reservation made earlier with this requestId in this group: what it asked for (its
-- fingerprint), what it holds, and its key (NULL when that key has been deleted since).
-- $1 group, $2 request id.
SELECT
  h.reservation_id,
  h.fingerprint,
  h.amount::text AS amount,
  h.expires_at,
  k.id::int8 AS id,
  k.encrypted_api_key,
  k.encrypted_aes_key
FROM ps_private_access_holds h
LEFT JOIN ps_private_access_store k ON k.id = h.key_id
WHERE h.group_id = $1 AND h.request_id = $2

-- A request claimed earlier: its fingerprint and the key it served (NULL when none had room,
-- or when that key has been deleted since). $1 group, $2 request id.
SELECT
  r.fingerprint,
  k.id::int8 AS id,
  k.encrypted_api_key,
  k.encrypted_aes_key
FROM ps_private_access_requests r
LEFT JOIN ps_private_access_store k ON k.id = r.key_id
WHERE r.group_id = $1 AND r.request_id = $2

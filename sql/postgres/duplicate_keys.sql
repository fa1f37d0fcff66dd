-- Stored copies: sets of key ids that share an encrypted API key (hex compared in either case)
-- or a wrapped data key (addPreEncryptedKey refuses new copies; these were stored before, or
-- written to the table directly), with one pair of each set so the caller can tell real
-- envelopes from junk pairs that may repeat (crate::envelope::is_envelope_shaped).
-- `ids`: comma-separated, in id order.
SELECT
  string_agg(id::text, ',' ORDER BY id) AS ids,
  min(encrypted_api_key) AS encrypted_api_key,
  min(encrypted_aes_key) AS encrypted_aes_key
FROM ps_private_access_store
GROUP BY lower(encrypted_api_key)
HAVING count(*) > 1
UNION ALL
SELECT
  string_agg(id::text, ',' ORDER BY id) AS ids,
  min(encrypted_api_key) AS encrypted_api_key,
  min(encrypted_aes_key) AS encrypted_aes_key
FROM ps_private_access_store
GROUP BY encrypted_aes_key
HAVING count(*) > 1

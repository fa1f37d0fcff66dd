-- Stored copies (see sql/postgres/duplicate_keys.sql): sets of key ids sharing an encrypted
-- API key (either case) or a wrapped data key, with one pair of each set. `ids`:
-- comma-separated (ordered by the caller).
SELECT
  group_concat(id) AS ids,
  min(encrypted_api_key) AS encrypted_api_key,
  min(encrypted_aes_key) AS encrypted_aes_key
FROM ps_private_access_store
GROUP BY lower(encrypted_api_key)
HAVING count(*) > 1
UNION ALL
SELECT
  group_concat(id) AS ids,
  min(encrypted_api_key) AS encrypted_api_key,
  min(encrypted_aes_key) AS encrypted_aes_key
FROM ps_private_access_store
GROUP BY encrypted_aes_key
HAVING count(*) > 1

-- Write one rewrapped data key (key rotation), only if the row still holds the data key that
-- was read (a row changed meanwhile is left for the next run; a row is never wrapped twice).
-- Run for each row of a batch inside one BEGIN IMMEDIATE transaction. encrypted_api_key is
-- not touched.
-- ?1 id, ?2 the wrapped key read, ?3 the new wrapped key.
UPDATE ps_private_access_store
SET encrypted_aes_key = ?3
WHERE id = ?1 AND encrypted_aes_key = ?2

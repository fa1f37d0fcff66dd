-- Write a batch of rewrapped data keys (key rotation), in one statement and so one short
-- transaction: the rows are locked in id order, and each is written only if it still holds
-- the data key that was read (a row changed meanwhile is left for the next run; a row is
-- never wrapped twice). encrypted_api_key is not touched.
-- $1 ids, $2 the wrapped keys read, $3 the new wrapped keys (arrays of equal length).
WITH batch AS (
  SELECT *
  FROM unnest($1::int8[], $2::text[], $3::text[]) AS b(id, old, new)
),
locked AS (
  SELECT s.id
  FROM ps_private_access_store s
  JOIN batch ON batch.id = s.id
  ORDER BY s.id
  FOR UPDATE OF s
)
UPDATE ps_private_access_store s
SET encrypted_aes_key = batch.new
FROM batch
WHERE s.id = batch.id
  AND s.id IN (SELECT id FROM locked)
  AND s.encrypted_aes_key = batch.old
RETURNING s.id::int8 AS id

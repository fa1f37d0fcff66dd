-- Replace a key's budget configuration (checked by the caller). $1 key id, $2 configuration
-- (JSON text). The lean statement's hints compare the row's configuration, so the next call
-- decides on the new one.
UPDATE ps_private_access_store
SET configuration = $2::jsonb, updated_at = now()
WHERE id = $1
RETURNING id

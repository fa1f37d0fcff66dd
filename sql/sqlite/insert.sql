-- A new key: active, zero usage (the original's default), timestamps now (RFC 3339, UTC).
-- ?1 group, ?2 user, ?3 AI model, ?4 external API, ?5 configuration (JSON text), ?6 encrypted
-- API key, ?7 encrypted AES key, ?8 whether the pair is envelope-shaped (see
-- sql/postgres/insert.sql): then written only if neither ciphertext is stored yet, in any
-- group. No row back: a copy, refused. Run inside BEGIN IMMEDIATE (one writer at a time).
INSERT INTO ps_private_access_store (
  group_id, user_id, ai_model_id, external_api_id, configuration, usage,
  encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active
)
SELECT
  ?1, ?2, ?3, ?4, ?5, '{"dailyUse":0,"monthlyUse":0,"totalUse":0}',
  ?6, ?7,
  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  1
WHERE NOT (
  ?8 AND EXISTS (
    SELECT 1
    FROM ps_private_access_store d
    WHERE lower(d.encrypted_api_key) = lower(?6) OR d.encrypted_aes_key = ?7
  )
)
RETURNING
/*:key_record*/

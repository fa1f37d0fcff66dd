-- A new key: active, zero usage (the original's default), timestamps now.
-- $1 time zone, $2 group, $3 user, $4 AI model, $5 external API, $6 configuration (JSON
-- text), $7 encrypted API key, $8 encrypted AES key, $9 whether the pair is envelope-shaped
-- (crate::envelope::is_envelope_shaped): then it is written only if neither ciphertext is
-- stored yet, in any group (hex compared in either case). No row back: a copy, refused. Run
-- after insert_lock.sql in one transaction, so two copies sent at once cannot both pass.
/*:period*/,
inserted AS (
  INSERT INTO ps_private_access_store (
    group_id, user_id, ai_model_id, external_api_id, configuration, usage,
    encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active
  )
  SELECT
    $2, $3, $4, $5, $6::jsonb, '{"dailyUse":0,"monthlyUse":0,"totalUse":0}'::jsonb,
    $7, $8, now(), now(), true
  WHERE NOT (
    $9::bool AND EXISTS (
      SELECT 1
      FROM ps_private_access_store d
      WHERE lower(d.encrypted_api_key) = lower($7) OR d.encrypted_aes_key = $8
    )
  )
  RETURNING *
)
SELECT
/*:key_record*/
FROM inserted s
CROSS JOIN period

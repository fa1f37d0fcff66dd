-- The columns of a key record (crate::model::KeyRecord), read by name. Timestamps are RFC 3339
-- text (see src/store/sqlite.rs); a key whose is_active is NULL counts as active.
  id,
  group_id,
  user_id,
  ai_model_id,
  external_api_id,
  encrypted_api_key,
  encrypted_aes_key,
  configuration,
  usage,
  created_at,
  updated_at,
  last_used_at,
  COALESCE(is_active, 1) AS is_active

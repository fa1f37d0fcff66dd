-- The columns of a key record (crate::model::KeyRecord) of row `s`, with the period it is
-- read in (its counters of an ended period count 0).
  s.id::int8 AS id,
  s.group_id::int8 AS group_id,
  s.user_id::int8 AS user_id,
  s.ai_model_id::int8 AS ai_model_id,
  s.external_api_id::int8 AS external_api_id,
  s.encrypted_api_key,
  s.encrypted_aes_key,
  s.configuration::text AS configuration,
  s.usage::text AS usage,
  s.created_at,
  s.updated_at,
  s.last_used_at,
  COALESCE(s.is_active, true) AS is_active,
  period.day,
  period.month,
  period.day_start,
  period.month_start

UPDATE ps_private_access_store
SET usage = jsonb_build_object(
      'dailyUse', COALESCE((usage->>'dailyUse')::numeric, 0) + $2,
      'monthlyUse', COALESCE((usage->>'monthlyUse')::numeric, 0) + $2,
      'totalUse', COALESCE((usage->>'totalUse')::numeric, 0) + $2
    ),
    last_used_at = now(),
    updated_at = now()
WHERE id = (
  SELECT id
  FROM ps_private_access_store
  WHERE group_id = $1 AND is_active AND ai_model_id = $3
  ORDER BY id
  LIMIT 1
  FOR UPDATE
)
RETURNING encrypted_api_key, encrypted_aes_key

-- One budget event into the outbox (migrations/sqlite/0004), inside the transaction that
-- decided it; a second row for the same key, period and kind is a no-op.
-- ?1 key id, ?2 group id, ?3 aiModelId, ?4 externalApiId, ?5 kind, ?6 period key, ?7 used,
-- ?8 limit, ?9 period start (RFC 3339; NULL for the total), ?10 now (RFC 3339).
INSERT INTO ps_private_access_events (
  key_id, group_id, ai_model_id, external_api_id, kind, period_key, used, budget_limit,
  period_start, created_at
)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (key_id, period_key, kind) DO NOTHING

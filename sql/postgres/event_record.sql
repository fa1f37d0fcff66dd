-- One budget event into the outbox (migrations/postgres/0005), inside the transaction that
-- decided it (a settle's); a second row for the same key, period and kind is a no-op.
-- $1 key id, $2 group id, $3 aiModelId, $4 externalApiId, $5 kind, $6 period key, $7 used,
-- $8 limit, $9 period start (NULL for the total).
INSERT INTO ps_private_access_events (
  key_id, group_id, ai_model_id, external_api_id, kind, period_key, used, budget_limit,
  period_start
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (key_id, period_key, kind) DO NOTHING

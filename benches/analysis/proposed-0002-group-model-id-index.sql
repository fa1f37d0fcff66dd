-- PROPOSAL (not applied): an additive index for the increment's lookup
--   WHERE group_id = $g AND is_active IS NOT FALSE [AND ai_model_id = $m] ORDER BY id LIMIT 1 FOR UPDATE
-- Equality on (group_id, ai_model_id) and the rows already in id order: a plain Index Scan that
-- stops at the first live row, marks dead versions' entries LP_DEAD as it passes them, and is the
-- cheapest path whatever the statistics say (none, stale, or a decayed reltuples), so the plan
-- cannot flip to the non-selective ai_model_id index. Changes nothing else in the table; existing
-- PolicySynth queries keep working (Sequelize-style name, IF NOT EXISTS).
-- On an existing, large, busy table prefer
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS ... (not inside a transaction block; if it fails it
--   leaves an INVALID index that IF NOT EXISTS then skips: check pg_index.indisvalid)
-- and a role without ownership of the table cannot create it: report, do not fail start-up.
CREATE INDEX IF NOT EXISTS ps_private_access_store_group_id_ai_model_id_id
  ON ps_private_access_store (group_id, ai_model_id, id);

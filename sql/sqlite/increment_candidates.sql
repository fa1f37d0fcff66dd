-- The candidates of an increment: the group's active matching keys in id order, read inside
-- the increment's BEGIN IMMEDIATE transaction (SQLite's one writer lock holds them), decided
-- by crate::budget::decide. The filter writes the model and API columns `+ai_model_id` /
-- `+external_api_id`, which keeps SQLite's planner on the group_id index (see
-- crate::store::filter_sql).
-- ?1 group, then the filter's values from ?2.
SELECT
  id,
  group_id,
  ai_model_id,
  external_api_id,
  usage,
  configuration
FROM ps_private_access_store
WHERE group_id = ?1 AND is_active IS NOT FALSE /*:filter*/
ORDER BY id

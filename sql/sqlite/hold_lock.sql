-- A reservation and its key, read inside a BEGIN IMMEDIATE transaction (SQLite's one writer
-- lock holds both). ?1 reservation id.
SELECT
  h.reservation_id,
  h.key_id,
  h.amount,
  h.state,
  h.charged,
  h.overrun,
  s.id,
  s.group_id,
  s.ai_model_id,
  s.external_api_id,
  s.usage,
  s.configuration
FROM ps_private_access_holds h
JOIN ps_private_access_store s ON s.id = h.key_id
WHERE h.reservation_id = ?1

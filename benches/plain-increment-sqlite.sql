-- The SQLite limit: the plain single-statement increment, the SQLite dialect of
-- benches/plain-increment-pg.sql. No budget, no events, no decryption: what SQLite itself can
-- do for one call. examples/sqlite_limit.rs runs it in a bare Rust loop (npm run bench).
--
-- Parameters, numbered as in the PostgreSQL file: ?1 group_id, ?2 the amount (bound as a
-- REAL, like the package's f64), ?3 ai_model_id.
--
-- Column types as migrations/sqlite/0001_create_ps_private_access_store.sql creates them:
-- usage is JSON in TEXT, timestamps are RFC 3339 TEXT in UTC (the package's own NOW
-- expression), is_active is an INTEGER 0/1.
--
-- SQLite has no FOR UPDATE: the statement runs in autocommit, and an UPDATE takes the
-- database's single write lock when it starts (waiting in busy_timeout), so the sub-select
-- that picks the key and the write are one atomic step, as the row lock makes them in
-- PostgreSQL.
UPDATE ps_private_access_store
SET
  -- jsonb_build_object in the PostgreSQL file: a fresh object of the three counters.
  usage = json_object(
    'dailyUse', COALESCE(json_extract(usage, '$.dailyUse'), 0) + ?2,
    'monthlyUse', COALESCE(json_extract(usage, '$.monthlyUse'), 0) + ?2,
    'totalUse', COALESCE(json_extract(usage, '$.totalUse'), 0) + ?2
  ),
  -- now() in the PostgreSQL file; the same text the package writes.
  last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = (
  -- The key the package would pick: the first active key of the group for the model.
  SELECT id
  FROM ps_private_access_store
  WHERE group_id = ?1 AND is_active AND ai_model_id = ?3
  ORDER BY id
  LIMIT 1
)
RETURNING encrypted_api_key, encrypted_aes_key

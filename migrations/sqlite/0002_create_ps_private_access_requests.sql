-- The requests table (see migrations/postgres/0002): one row per (group, requestId) an
-- increment was made with. created_at is RFC 3339 TEXT (UTC), as in the store's table.
CREATE TABLE IF NOT EXISTS ps_private_access_requests (
  group_id INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  key_id INTEGER,
  created_at TEXT NOT NULL,
  PRIMARY KEY (group_id, request_id)
);
CREATE INDEX IF NOT EXISTS ps_private_access_requests_created_at
  ON ps_private_access_requests (created_at);

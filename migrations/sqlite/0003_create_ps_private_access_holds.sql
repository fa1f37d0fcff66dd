-- The holds table (see migrations/postgres/0003): one row per reservation. Amounts are
-- decimal TEXT (the budget rules' exact decimals); times are RFC 3339 TEXT (UTC), as in the
-- store's table.
CREATE TABLE IF NOT EXISTS ps_private_access_holds (
  reservation_id TEXT PRIMARY KEY,
  group_id INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  request_id TEXT,
  fingerprint TEXT,
  amount TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'held',
  charged TEXT,
  overrun TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  settled_at TEXT,
  prune_after TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ps_private_access_holds_request
  ON ps_private_access_holds (group_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ps_private_access_holds_prune_after
  ON ps_private_access_holds (prune_after);

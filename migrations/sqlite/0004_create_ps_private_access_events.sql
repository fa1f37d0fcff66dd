-- The budget event outbox (see migrations/postgres/0005): one row per key, period and kind.
-- Times are RFC 3339 TEXT (UTC), as in the store's table; `used` and `budget_limit` are the
-- event's numbers.
CREATE TABLE IF NOT EXISTS ps_private_access_events (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id INTEGER NOT NULL,
  group_id INTEGER NOT NULL,
  ai_model_id INTEGER,
  external_api_id INTEGER,
  kind TEXT NOT NULL,
  period_key TEXT NOT NULL,
  used REAL NOT NULL,
  budget_limit REAL NOT NULL,
  period_start TEXT,
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  consumer TEXT,
  leased_until TEXT,
  created_at TEXT NOT NULL,
  acked_at TEXT,
  UNIQUE (key_id, period_key, kind)
);
CREATE INDEX IF NOT EXISTS ps_private_access_events_pending
  ON ps_private_access_events (event_id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS ps_private_access_events_acked
  ON ps_private_access_events (acked_at) WHERE state = 'acked';

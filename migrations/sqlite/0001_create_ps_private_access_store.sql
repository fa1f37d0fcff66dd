-- The PostgreSQL table's shape in SQLite: JSON as TEXT, timestamps as RFC 3339 TEXT (UTC),
-- booleans as 0/1. Idempotent; runs inside BEGIN IMMEDIATE (see src/store/sqlite.rs).
CREATE TABLE IF NOT EXISTS ps_private_access_store (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  ai_model_id INTEGER,
  external_api_id INTEGER,
  configuration TEXT NOT NULL,
  usage TEXT NOT NULL DEFAULT '{"dailyUse":0,"monthlyUse":0,"totalUse":0}',
  encrypted_api_key TEXT NOT NULL,
  encrypted_aes_key TEXT NOT NULL,
  created_at TEXT,
  updated_at TEXT,
  last_used_at TEXT,
  is_active INTEGER DEFAULT 1
);
CREATE INDEX IF NOT EXISTS ps_private_access_store_group_id ON ps_private_access_store (group_id);
CREATE INDEX IF NOT EXISTS ps_private_access_store_ai_model_id ON ps_private_access_store (ai_model_id);
CREATE INDEX IF NOT EXISTS ps_private_access_store_external_api_id ON ps_private_access_store (external_api_id);
CREATE INDEX IF NOT EXISTS ps_private_access_store_user_id ON ps_private_access_store (user_id);

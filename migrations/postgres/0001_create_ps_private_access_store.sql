-- The table exactly as PolicySynth's Sequelize migration creates it (same column types, nulls,
-- defaults and Sequelize's default index names), so an existing database is used unchanged.
-- Run only when the table is missing, under an advisory lock (see src/store/pg.rs).
CREATE TABLE IF NOT EXISTS ps_private_access_store (
  id SERIAL PRIMARY KEY,
  group_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  ai_model_id INTEGER,
  external_api_id INTEGER,
  configuration JSONB NOT NULL,
  usage JSONB NOT NULL DEFAULT '{"dailyUse":0,"monthlyUse":0,"totalUse":0}'::jsonb,
  encrypted_api_key TEXT NOT NULL,
  encrypted_aes_key TEXT NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE,
  last_used_at TIMESTAMP WITH TIME ZONE,
  is_active BOOLEAN DEFAULT true
);
CREATE INDEX IF NOT EXISTS ps_private_access_store_group_id ON ps_private_access_store (group_id);
CREATE INDEX IF NOT EXISTS ps_private_access_store_ai_model_id ON ps_private_access_store (ai_model_id);
CREATE INDEX IF NOT EXISTS ps_private_access_store_external_api_id ON ps_private_access_store (external_api_id);
CREATE INDEX IF NOT EXISTS ps_private_access_store_user_id ON ps_private_access_store (user_id);

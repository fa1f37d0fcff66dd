-- The data of benches/bench.mjs (seed()): the package's migration, then, in this order,
-- one key for each hot group 1..5 (ids 1..5), then 1,000 groups for each of the 5 variants
-- (10000..10999, 20000.., 30000.., 40000.., 50000..): 5,005 rows, one key per group, all
-- user_id 1, ai_model_id 1, external_api_id NULL, same configuration, usage default.
-- Encrypted columns with the package's sizes (iv:tag:ciphertext hex ~94 chars; RSA-2048
-- OAEP base64 344 chars). Like the bench: NO ANALYZE (autovacuum is off on this machine and
-- the bench only runs plain VACUUM), so the planner has no column statistics.
DROP TABLE IF EXISTS ps_private_access_store;
\i ../../migrations/postgres/0001_create_ps_private_access_store.sql
INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, external_api_id, configuration,
  usage, encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active)
SELECT g, 1, 1, NULL,
  '{"maxBudget":{"perDay":null,"petMonth":null,"total":null},"emailNotificationBudgetThresholds":{"daily":0.8,"monthly":0.9}}'::jsonb,
  '{"dailyUse":0,"monthlyUse":0,"totalUse":0}'::jsonb,
  md5(g::text) || ':' || md5('t' || g) || ':' || left(md5('c' || g), 28 + length(g::text) * 2 - 10),
  left(repeat(encode(sha256(g::text::bytea), 'base64'), 8), 342) || '==',
  now(), now(), true
FROM (SELECT g, o FROM (VALUES (1,0),(2,0),(3,0),(4,0),(5,0)) v(g,o)
      UNION ALL SELECT b + i, 1 FROM unnest(ARRAY[10000,20000,30000,40000,50000]) b, generate_series(0,999) i) s
ORDER BY o, g;
VACUUM ps_private_access_store;

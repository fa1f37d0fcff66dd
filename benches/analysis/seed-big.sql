-- A bigger, realistic table: 10,000 groups x 3 keys (30,000 rows). Per group: two keys for
-- ai_model_id 1 (primary + failover) and one for ai_model_id 2; rows inserted in random order
-- (keys of a group are created at different times, so they are on different pages), plus
-- 3 hot groups 1..3 at the start (ids 1..9) for the hot-key runs. Then VACUUM ANALYZE (as
-- autovacuum would eventually do on a production server) unless :noanalyze is set.
DROP TABLE IF EXISTS ps_private_access_store;
\i ../../migrations/postgres/0001_create_ps_private_access_store.sql
INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, external_api_id, configuration,
  usage, encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active)
SELECT g, g % 97 + 1, m, NULL,
  '{"maxBudget":{"perDay":null,"petMonth":null,"total":null},"emailNotificationBudgetThresholds":{"daily":0.8,"monthly":0.9}}'::jsonb,
  '{"dailyUse":0,"monthlyUse":0,"totalUse":0}'::jsonb,
  md5(g::text || k) || ':' || md5('t' || g || k) || ':' || left(md5('c' || g || k), 30),
  left(repeat(encode(sha256((g::text || k)::bytea), 'base64'), 8), 342) || '==',
  now(), now(), true
FROM (SELECT g, k, CASE k WHEN 3 THEN 2 ELSE 1 END AS m, o FROM
        (SELECT g, k, 0 AS o FROM generate_series(1,3) g, generate_series(1,3) k
         UNION ALL SELECT g, k, 1 FROM generate_series(100001,110000) g, generate_series(1,3) k) a) s
ORDER BY o, CASE WHEN o = 0 THEN g * 10 + k ELSE random() END;
VACUUM ANALYZE ps_private_access_store;

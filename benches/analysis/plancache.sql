-- Which plans a named prepared statement gets under plan_cache_mode = auto: EXECUTE each
-- statement 10 times, then read pg_prepared_statements.generic_plans / custom_plans (PG14+).
-- psql -v g=<group> -f plancache.sql   (rolled back)
\set plain `cat ../plain-increment-pg.sql`
\set lean `cat lean-pg.sql`
\set full `cat full-pg.sql`
PREPARE plain AS :plain;
PREPARE lean(int8, float8, text, bool, int8) AS :lean;
PREPARE fullstmt(int8, float8, text, bool, int8) AS :full;
SET plan_cache_mode = auto;
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM generate_series(1,1)) x;
\o /dev/null
EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1);
SELECT 'plain after 5', generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'plain';
EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1); EXECUTE plain(:g, 1, 1);
EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1);
EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1); EXECUTE lean(:g, 1, 'UTC', true, 1);
EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1);
EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1); EXECUTE fullstmt(:g, 1, 'UTC', true, 1);
\o
SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name;
ROLLBACK;

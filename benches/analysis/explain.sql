-- EXPLAIN (ANALYZE, BUFFERS) of the plain, lean and full statements, prepared like the clients
-- prepare them (plain: node-pg, untyped parameters; lean/full: sqlx, int8/float8/text/bool/int8),
-- under force_custom_plan and force_generic_plan. Each EXECUTE runs in a rolled-back transaction.
-- psql -v g=<group> -v mode=<force_custom_plan|force_generic_plan> -f explain.sql
\set plain `cat ../plain-increment-pg.sql`
\set lean `cat lean-pg.sql`
\set full `cat full-pg.sql`
PREPARE plain AS :plain;
PREPARE lean(int8, float8, text, bool, int8) AS :lean;
PREPARE fullstmt(int8, float8, text, bool, int8) AS :full;
SET plan_cache_mode = :mode;
\echo ======== plain, :mode, group :g
BEGIN; EXPLAIN (ANALYZE, BUFFERS, COSTS, TIMING) EXECUTE plain(:g, 1, 1); ROLLBACK;
\echo ======== lean, :mode, group :g
BEGIN; EXPLAIN (ANALYZE, BUFFERS, COSTS, TIMING) EXECUTE lean(:g, 1, 'UTC', true, 1); ROLLBACK;
\echo ======== full, :mode, group :g
BEGIN; EXPLAIN (ANALYZE, BUFFERS, COSTS, TIMING) EXECUTE fullstmt(:g, 1, 'UTC', true, 1); ROLLBACK;

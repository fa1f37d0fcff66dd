-- The generic plan's scans (what a named prepared statement runs after 5 executions) of each
-- statement: psql -v g=<group> -f plansig.sql
\set plain `cat ../plain-increment-pg.sql`
\set lean `cat lean-pg.sql`
\set leannf `cat lean-nofilter-pg.sql`
PREPARE plain AS :plain;
PREPARE lean(int8, float8, text, bool, int8) AS :lean;
PREPARE leannf(int8, float8, text, bool, int8) AS :leannf;
SET plan_cache_mode = force_generic_plan;
\echo plain
EXPLAIN (COSTS OFF) EXECUTE plain(:g, 1, 1);
\echo lean
EXPLAIN (COSTS OFF) EXECUTE lean(:g, 1, 'UTC', true, 1);
\echo lean-nofilter
EXPLAIN (COSTS OFF) EXECUTE leannf(:g, 1, 'UTC', true, 1);

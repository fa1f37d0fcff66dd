#!/bin/bash
# Creates the variant databases (each a fresh copy of the bench's data, seed-bench.sql):
#   pspas_an_base     as the bench has it: no ANALYZE (no column statistics), fillfactor 100
#   pspas_an_analyze  + ANALYZE (what autovacuum does on a normal server)
#   pspas_an_ix3      + CREATE INDEX (group_id, ai_model_id, id), no ANALYZE
#   pspas_an_ff70     + fillfactor 70 (table rewritten), no ANALYZE
#   pspas_an_ix3ff    + both
cd "$(dirname "$0")"
P="psql -h 127.0.0.1 -U root -X -q"
for v in base analyze ix3 ff70 ix3ff; do
  $P test -c "DROP DATABASE IF EXISTS pspas_an_$v" -c "CREATE DATABASE pspas_an_$v"
  $P pspas_an_$v -f seed-bench.sql 2>/dev/null
done
$P pspas_an_analyze -c "ANALYZE ps_private_access_store"
for v in ix3 ix3ff; do $P pspas_an_$v -c "CREATE INDEX IF NOT EXISTS ps_private_access_store_group_model_id ON ps_private_access_store (group_id, ai_model_id, id)"; done
for v in ff70 ix3ff; do $P pspas_an_$v -c "ALTER TABLE ps_private_access_store SET (fillfactor = 70)" -c "VACUUM FULL ps_private_access_store"; done

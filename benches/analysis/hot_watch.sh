#!/bin/bash
# Hot-key hammering with a 2 s timeline: tps (pgbench -P 2) next to the table's update
# counters, dead tuples and the hot group's index entries / buffers per lookup.
# usage: hot_watch.sh DB STMT(plain|lean|full) GROUP CLIENTS SECONDS MODE(prepared|extended|simple) [PGOPTIONS]
DB=$1; STMT=$2; G=$3; C=$4; T=$5; MODE=${6:-prepared}; export PGOPTIONS="${7:-}"
HERE=$(cd "$(dirname "$0")" && pwd)
PSQL="psql -h 127.0.0.1 -U root -X -q -At $DB"
$PSQL -c "VACUUM ps_private_access_store" -c "SELECT pg_stat_reset()" >/dev/null
sample() {
  $PSQL -F' ' <<SQL
SELECT to_char(clock_timestamp(),'HH24:MI:SS'), 'upd='||n_tup_upd, 'hot='||n_tup_hot_upd, 'dead='||n_dead_tup,
       'heap_pages='||pg_relation_size('ps_private_access_store')/8192,
       'gidx_pages='||pg_relation_size('ps_private_access_store_group_id')/8192
FROM pg_stat_user_tables WHERE relname='ps_private_access_store';
SQL
  $PSQL -c "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF) SELECT id FROM ps_private_access_store WHERE group_id = $G AND is_active AND ai_model_id = 1 ORDER BY id LIMIT 1" \
   | grep -E "Scan|Heap Blocks|Execution|Buffers|Removed" | tr -s ' ' | paste -sd' ' | sed 's/^/   lookup: /'
}
sample
pgbench -h 127.0.0.1 -U root -n -M $MODE -c $C -j 2 -T $T -P 2 -D gbase=$G -D gspan=1 -D amt=1 -D tz=UTC -D enf=true -D m=1 \
  -f $HERE/$STMT.pgb $DB > /tmp/pspas_hot_$$.out 2>&1 &
PID=$!
while kill -0 $PID 2>/dev/null; do sleep 2; sample; done
wait $PID
grep -E "^progress|^tps|latency average|failed" /tmp/pspas_hot_$$.out; rm -f /tmp/pspas_hot_$$.out

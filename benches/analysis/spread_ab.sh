#!/bin/bash
# 1,000 groups, random group per call (the bench's spread scenario), interleaved: for each run,
# for each DB, for each statement: VACUUM [ANALYZE if the DB has statistics], pgbench -M MODE
# -c CLIENTS -T SECONDS with g = base + random(0, 999) (plain 30000.., lean 10000.., full 40000..:
# each statement its own groups, as the bench's variants). Also prints the HOT share of the updates.
# CSV: run,db,stmt,sync,latency_avg_ms,tps   (+ "# hot" comment lines)
# usage: spread_ab.sh RUNS SECONDS CLIENTS MODE SYNC "db1 db2" "plain lean full"
RUNS=$1; T=$2; C=$3; MODE=$4; SYNC=$5; DBS=$6; STMTS=$7
HERE=$(cd "$(dirname "$0")" && pwd); cd $HERE
declare -A B=([plain]=30000 [lean]=10000 [lean-nofilter]=20000 [lean-v2]=50000 [wip-lean]=20000 [full]=40000)
for r in $(seq 1 $RUNS); do for db in $DBS; do for s in $STMTS; do
  Q="psql -h 127.0.0.1 -U root -X -q -At $db -c"
  an=$($Q "select count(*)>0 from pg_stats where tablename='ps_private_access_store'")
  if [ "$an" = t ]; then $Q "VACUUM ANALYZE ps_private_access_store"; else $Q "VACUUM ps_private_access_store"; fi
  h0=$($Q "select pg_stat_clear_snapshot(); select n_tup_upd||' '||n_tup_hot_upd from pg_stat_user_tables where relname='ps_private_access_store'" | tail -1)
  PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M $MODE -c $C -j 2 -T $T \
    -D gbase=${B[$s]} -D gspan=1000 -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $s.pgb $db 2>&1 \
  | awk -v r=$r -v d=$db -v s=$s -v y=$SYNC '/latency average/{l=$4} /^tps/{print r","d","s","y","l","$3+0}'
  sleep 1.1
  h1=$($Q "select n_tup_upd||' '||n_tup_hot_upd from pg_stat_user_tables where relname='ps_private_access_store'")
  echo "$h0 $h1" | awk -v d=$db -v s=$s '{u=$3-$1; h=$4-$2; printf "# hot %s %s %d updates, %.0f%% HOT\n", d, s, u, (u>0?100*h/u:0)}'
done; done; done

#!/bin/bash
# One call in flight (pgbench -c 1), interleaved: for each run, for each DB, for each statement:
# VACUUM [ANALYZE if the DB has statistics], pgbench -M MODE -c 1 -T SECONDS on the hot group.
# CSV: run,db,stmt,sync,latency_avg_ms,tps
# usage: c1_ab.sh RUNS SECONDS MODE SYNC "db1 db2" "plain lean full"
RUNS=$1; T=$2; MODE=$3; SYNC=$4; DBS=$5; STMTS=$6
HERE=$(cd "$(dirname "$0")" && pwd); cd $HERE
declare -A G=([plain]=3 [lean]=1 [lean-nofilter]=1 [lean-v2]=2 [wip-lean]=5 [lean-nobudget]=1 [lean-bare]=1 [full]=4)   # hot groups (bench: limit 3, package 1, statement 4)
for r in $(seq 1 $RUNS); do for db in $DBS; do for s in $STMTS; do
  an=$(psql -h 127.0.0.1 -U root -X -At $db -c "select count(*)>0 from pg_stats where tablename='ps_private_access_store'")
  if [ "$an" = t ]; then v="VACUUM ANALYZE"; else v="VACUUM"; fi
  psql -h 127.0.0.1 -U root -X -q $db -c "$v ps_private_access_store"
  PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M $MODE -c 1 -T $T \
    -D gbase=${G[$s]} -D gspan=1 -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $s.pgb $db 2>&1 \
  | awk -v r=$r -v d=$db -v s=$s -v y=$SYNC '/latency average/{l=$4} /^tps/{print r","d","s","y","l","$3+0}'
done; done; done
